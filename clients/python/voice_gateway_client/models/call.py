from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.call_status import CallStatus
from ..models.cost_unit import CostUnit
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.call_metadata import CallMetadata
    from ..models.call_telephony_ids import CallTelephonyIds
    from ..models.call_variables import CallVariables


T = TypeVar("T", bound="Call")


@_attrs_define
class Call:
    """A call, normalized across providers.

    Attributes:
        created_at (datetime.datetime): When the gateway stored the call.
        id (UUID): The gateway's id (UUIDv7, time-ordered).
        metadata (CallMetadata): Your own data, as sent in `POST /v1/calls`.
        provider (str): The provider instance running the call.
        provider_kind (str): The provider implementation.
        status (CallStatus): The status of a call: `queued -> initiating -> ringing -> in_progress -> completed | failed
            |
            no_answer | busy | canceled`. Statuses only move forward; the last five are terminal.
        telephony_ids (CallTelephonyIds): Telephony ids by name, e.g. `twilio_call_sid`.
        to (str): The number called, E.164.
        updated_at (datetime.datetime): When the call last changed.
        variables (CallVariables): Values for the agent's prompt, as sent in `POST /v1/calls`.
        agent_id (str | Unset): The vendor's agent or assistant id, when set.
        analysis (Any | Unset): The vendor's structured analysis, as it sent it.
        cost (float | Unset): Absent when the vendor reported no cost (never a made-up 0).
        cost_breakdown (Any | Unset): Every cost figure the vendor reported (e.g. `{"credits": 296, "usd": 0.12}`).
        cost_unit (CostUnit | Unset): The unit of a call's cost.
        duration_secs (float | Unset): How long the call lasted, in seconds, as the vendor reports it.
        end_reason (str | Unset): Why the call ended (e.g. `agent_ended_call`, `busy`).
        ended_at (datetime.datetime | Unset): When the call ended.
        erased (bool | Unset): `true` when the call's personal data was erased (`DELETE /v1/calls/{id}`, `POST
            /v1/erasure`): what is left is a tombstone (id, provider, status, times, cost), the number
            masked. Absent otherwise.
        erased_at (datetime.datetime | Unset): When the call's personal data was erased; absent unless `erased`.
        failure_reason (str | Unset): Why the call failed, for `failed` calls.
        first_message (str | Unset): What the agent says first, when overridden.
        from_number_id (str | Unset): The vendor's id of the number called from, when set.
        idempotency_key (str | Unset): The `Idempotency-Key` the call was created with.
        provider_call_id (str | Unset): The vendor's id for the call (ElevenLabs `conversation_id`, VAPI call id);
            absent until the vendor accepts.
        recording_pruned (bool | Unset): `true` when retention (`[retention] recordings_days`) removed the call's
            recording:
            `recording_url` is gone and `GET /v1/calls/{id}/recording` answers 404. Absent otherwise.
        recording_url (str | Unset): The vendor's URL of the recording, when it sent one.
        started_at (datetime.datetime | Unset): When the callee answered.
        status_reason (str | Unset): Why the call has its current status: e.g. `vendor_outcome_unknown` for a create
            whose outcome is
            not known yet, or the vendor's end reason.
        success (bool | Unset): The vendor's verdict on whether the call achieved its goal.
        summary (str | Unset): The vendor's summary of the conversation.
        transcript_pruned (bool | Unset): `true` when retention (`[retention] transcripts_days`) removed the call's
            transcript:
            `GET /v1/calls/{id}/transcript` answers no turns. Absent otherwise.
        vendor_metadata (Any | Unset): The vendor's own metadata about the call, as it sent it.
    """

    created_at: datetime.datetime
    id: UUID
    metadata: CallMetadata
    provider: str
    provider_kind: str
    status: CallStatus
    telephony_ids: CallTelephonyIds
    to: str
    updated_at: datetime.datetime
    variables: CallVariables
    agent_id: str | Unset = UNSET
    analysis: Any | Unset = UNSET
    cost: float | Unset = UNSET
    cost_breakdown: Any | Unset = UNSET
    cost_unit: CostUnit | Unset = UNSET
    duration_secs: float | Unset = UNSET
    end_reason: str | Unset = UNSET
    ended_at: datetime.datetime | Unset = UNSET
    erased: bool | Unset = UNSET
    erased_at: datetime.datetime | Unset = UNSET
    failure_reason: str | Unset = UNSET
    first_message: str | Unset = UNSET
    from_number_id: str | Unset = UNSET
    idempotency_key: str | Unset = UNSET
    provider_call_id: str | Unset = UNSET
    recording_pruned: bool | Unset = UNSET
    recording_url: str | Unset = UNSET
    started_at: datetime.datetime | Unset = UNSET
    status_reason: str | Unset = UNSET
    success: bool | Unset = UNSET
    summary: str | Unset = UNSET
    transcript_pruned: bool | Unset = UNSET
    vendor_metadata: Any | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        id = str(self.id)

        metadata = self.metadata.to_dict()

        provider = self.provider

        provider_kind = self.provider_kind

        status = self.status.value

        telephony_ids = self.telephony_ids.to_dict()

        to = self.to

        updated_at = self.updated_at.isoformat()

        variables = self.variables.to_dict()

        agent_id = self.agent_id

        analysis = self.analysis

        cost = self.cost

        cost_breakdown = self.cost_breakdown

        cost_unit: str | Unset = UNSET
        if not isinstance(self.cost_unit, Unset):
            cost_unit = self.cost_unit.value

        duration_secs = self.duration_secs

        end_reason = self.end_reason

        ended_at: str | Unset = UNSET
        if not isinstance(self.ended_at, Unset):
            ended_at = self.ended_at.isoformat()

        erased = self.erased

        erased_at: str | Unset = UNSET
        if not isinstance(self.erased_at, Unset):
            erased_at = self.erased_at.isoformat()

        failure_reason = self.failure_reason

        first_message = self.first_message

        from_number_id = self.from_number_id

        idempotency_key = self.idempotency_key

        provider_call_id = self.provider_call_id

        recording_pruned = self.recording_pruned

        recording_url = self.recording_url

        started_at: str | Unset = UNSET
        if not isinstance(self.started_at, Unset):
            started_at = self.started_at.isoformat()

        status_reason = self.status_reason

        success = self.success

        summary = self.summary

        transcript_pruned = self.transcript_pruned

        vendor_metadata = self.vendor_metadata

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "id": id,
                "metadata": metadata,
                "provider": provider,
                "provider_kind": provider_kind,
                "status": status,
                "telephony_ids": telephony_ids,
                "to": to,
                "updated_at": updated_at,
                "variables": variables,
            }
        )
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if analysis is not UNSET:
            field_dict["analysis"] = analysis
        if cost is not UNSET:
            field_dict["cost"] = cost
        if cost_breakdown is not UNSET:
            field_dict["cost_breakdown"] = cost_breakdown
        if cost_unit is not UNSET:
            field_dict["cost_unit"] = cost_unit
        if duration_secs is not UNSET:
            field_dict["duration_secs"] = duration_secs
        if end_reason is not UNSET:
            field_dict["end_reason"] = end_reason
        if ended_at is not UNSET:
            field_dict["ended_at"] = ended_at
        if erased is not UNSET:
            field_dict["erased"] = erased
        if erased_at is not UNSET:
            field_dict["erased_at"] = erased_at
        if failure_reason is not UNSET:
            field_dict["failure_reason"] = failure_reason
        if first_message is not UNSET:
            field_dict["first_message"] = first_message
        if from_number_id is not UNSET:
            field_dict["from_number_id"] = from_number_id
        if idempotency_key is not UNSET:
            field_dict["idempotency_key"] = idempotency_key
        if provider_call_id is not UNSET:
            field_dict["provider_call_id"] = provider_call_id
        if recording_pruned is not UNSET:
            field_dict["recording_pruned"] = recording_pruned
        if recording_url is not UNSET:
            field_dict["recording_url"] = recording_url
        if started_at is not UNSET:
            field_dict["started_at"] = started_at
        if status_reason is not UNSET:
            field_dict["status_reason"] = status_reason
        if success is not UNSET:
            field_dict["success"] = success
        if summary is not UNSET:
            field_dict["summary"] = summary
        if transcript_pruned is not UNSET:
            field_dict["transcript_pruned"] = transcript_pruned
        if vendor_metadata is not UNSET:
            field_dict["vendor_metadata"] = vendor_metadata

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.call_metadata import CallMetadata  # noqa: PLC0415
        from ..models.call_telephony_ids import CallTelephonyIds  # noqa: PLC0415
        from ..models.call_variables import CallVariables  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        metadata = CallMetadata.from_dict(d.pop("metadata"))

        provider = d.pop("provider")

        provider_kind = d.pop("provider_kind")

        status = CallStatus(d.pop("status"))

        telephony_ids = CallTelephonyIds.from_dict(d.pop("telephony_ids"))

        to = d.pop("to")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        variables = CallVariables.from_dict(d.pop("variables"))

        agent_id = d.pop("agent_id", UNSET)

        analysis = d.pop("analysis", UNSET)

        cost = d.pop("cost", UNSET)

        cost_breakdown = d.pop("cost_breakdown", UNSET)

        _cost_unit = d.pop("cost_unit", UNSET)
        cost_unit: CostUnit | Unset
        if isinstance(_cost_unit, Unset):
            cost_unit = UNSET
        else:
            cost_unit = CostUnit(_cost_unit)

        duration_secs = d.pop("duration_secs", UNSET)

        end_reason = d.pop("end_reason", UNSET)

        _ended_at = d.pop("ended_at", UNSET)
        ended_at: datetime.datetime | Unset
        if isinstance(_ended_at, Unset):
            ended_at = UNSET
        else:
            ended_at = datetime.datetime.fromisoformat(_ended_at)

        erased = d.pop("erased", UNSET)

        _erased_at = d.pop("erased_at", UNSET)
        erased_at: datetime.datetime | Unset
        if isinstance(_erased_at, Unset):
            erased_at = UNSET
        else:
            erased_at = datetime.datetime.fromisoformat(_erased_at)

        failure_reason = d.pop("failure_reason", UNSET)

        first_message = d.pop("first_message", UNSET)

        from_number_id = d.pop("from_number_id", UNSET)

        idempotency_key = d.pop("idempotency_key", UNSET)

        provider_call_id = d.pop("provider_call_id", UNSET)

        recording_pruned = d.pop("recording_pruned", UNSET)

        recording_url = d.pop("recording_url", UNSET)

        _started_at = d.pop("started_at", UNSET)
        started_at: datetime.datetime | Unset
        if isinstance(_started_at, Unset):
            started_at = UNSET
        else:
            started_at = datetime.datetime.fromisoformat(_started_at)

        status_reason = d.pop("status_reason", UNSET)

        success = d.pop("success", UNSET)

        summary = d.pop("summary", UNSET)

        transcript_pruned = d.pop("transcript_pruned", UNSET)

        vendor_metadata = d.pop("vendor_metadata", UNSET)

        call = cls(
            created_at=created_at,
            id=id,
            metadata=metadata,
            provider=provider,
            provider_kind=provider_kind,
            status=status,
            telephony_ids=telephony_ids,
            to=to,
            updated_at=updated_at,
            variables=variables,
            agent_id=agent_id,
            analysis=analysis,
            cost=cost,
            cost_breakdown=cost_breakdown,
            cost_unit=cost_unit,
            duration_secs=duration_secs,
            end_reason=end_reason,
            ended_at=ended_at,
            erased=erased,
            erased_at=erased_at,
            failure_reason=failure_reason,
            first_message=first_message,
            from_number_id=from_number_id,
            idempotency_key=idempotency_key,
            provider_call_id=provider_call_id,
            recording_pruned=recording_pruned,
            recording_url=recording_url,
            started_at=started_at,
            status_reason=status_reason,
            success=success,
            summary=summary,
            transcript_pruned=transcript_pruned,
            vendor_metadata=vendor_metadata,
        )

        call.additional_properties = d
        return call

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
