from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.call_created_data import CallCreatedData
    from ..models.call_ended_data import CallEndedData
    from ..models.call_recording_ready_data import CallRecordingReadyData
    from ..models.call_status_changed_data import CallStatusChangedData
    from ..models.call_transcript_finalized_data import CallTranscriptFinalizedData
    from ..models.call_transcript_turn_data import CallTranscriptTurnData
    from ..models.ping_data import PingData


T = TypeVar("T", bound="Event")


@_attrs_define
class Event:
    """An event as delivered: the same envelope for every provider. Its `data` is one of the
    payload schemas `CallCreatedData`, `CallStatusChangedData`, `CallTranscriptTurnData`,
    `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData`, `PingData`.

        Attributes:
            created_at (datetime.datetime): When the change that caused it was committed.
            data (CallCreatedData | CallEndedData | CallRecordingReadyData | CallStatusChangedData |
                CallTranscriptFinalizedData | CallTranscriptTurnData | PingData): The payload of the event's type.
            id (str): `evt_<uuidv7>`; the `webhook-id` header of every delivery of it.
            sequence (int): Increases by one per event of the call (drop anything older than what you have); 0 for `ping`.
            type_ (str): `call.created`, `call.status_changed`, `call.transcript.turn`, `call.transcript.finalized`,
                `call.ended`, `call.recording.ready` or `ping`.
            call_id (UUID | Unset): The call; omitted for `ping`.
    """

    created_at: datetime.datetime
    data: (
        CallCreatedData
        | CallEndedData
        | CallRecordingReadyData
        | CallStatusChangedData
        | CallTranscriptFinalizedData
        | CallTranscriptTurnData
        | PingData
    )
    id: str
    sequence: int
    type_: str
    call_id: UUID | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.call_created_data import CallCreatedData  # noqa: PLC0415
        from ..models.call_ended_data import CallEndedData  # noqa: PLC0415
        from ..models.call_recording_ready_data import CallRecordingReadyData  # noqa: PLC0415
        from ..models.call_status_changed_data import CallStatusChangedData  # noqa: PLC0415
        from ..models.call_transcript_finalized_data import CallTranscriptFinalizedData  # noqa: PLC0415
        from ..models.call_transcript_turn_data import CallTranscriptTurnData  # noqa: PLC0415

        created_at = self.created_at.isoformat()

        data: dict[str, Any]
        if isinstance(self.data, CallCreatedData):
            data = self.data.to_dict()
        elif isinstance(self.data, CallStatusChangedData):
            data = self.data.to_dict()
        elif isinstance(self.data, CallTranscriptTurnData):
            data = self.data.to_dict()
        elif isinstance(self.data, CallTranscriptFinalizedData):
            data = self.data.to_dict()
        elif isinstance(self.data, CallEndedData):
            data = self.data.to_dict()
        elif isinstance(self.data, CallRecordingReadyData):
            data = self.data.to_dict()
        else:
            data = self.data.to_dict()

        id = self.id

        sequence = self.sequence

        type_ = self.type_

        call_id: str | Unset = UNSET
        if not isinstance(self.call_id, Unset):
            call_id = str(self.call_id)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "data": data,
                "id": id,
                "sequence": sequence,
                "type": type_,
            }
        )
        if call_id is not UNSET:
            field_dict["call_id"] = call_id

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.call_created_data import CallCreatedData  # noqa: PLC0415
        from ..models.call_ended_data import CallEndedData  # noqa: PLC0415
        from ..models.call_recording_ready_data import CallRecordingReadyData  # noqa: PLC0415
        from ..models.call_status_changed_data import CallStatusChangedData  # noqa: PLC0415
        from ..models.call_transcript_finalized_data import CallTranscriptFinalizedData  # noqa: PLC0415
        from ..models.call_transcript_turn_data import CallTranscriptTurnData  # noqa: PLC0415
        from ..models.ping_data import PingData  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_data(
            data: object,
        ) -> (
            CallCreatedData
            | CallEndedData
            | CallRecordingReadyData
            | CallStatusChangedData
            | CallTranscriptFinalizedData
            | CallTranscriptTurnData
            | PingData
        ):
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_0 = CallCreatedData.from_dict(data)

                return data_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_1 = CallStatusChangedData.from_dict(data)

                return data_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_2 = CallTranscriptTurnData.from_dict(data)

                return data_type_2
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_3 = CallTranscriptFinalizedData.from_dict(data)

                return data_type_3
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_4 = CallEndedData.from_dict(data)

                return data_type_4
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                data_type_5 = CallRecordingReadyData.from_dict(data)

                return data_type_5
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            data_type_6 = PingData.from_dict(data)

            return data_type_6

        data = _parse_data(d.pop("data"))

        id = d.pop("id")

        sequence = d.pop("sequence")

        type_ = d.pop("type")

        _call_id = d.pop("call_id", UNSET)
        call_id: UUID | Unset
        if isinstance(_call_id, Unset):
            call_id = UNSET
        else:
            call_id = UUID(_call_id)

        event = cls(
            created_at=created_at,
            data=data,
            id=id,
            sequence=sequence,
            type_=type_,
            call_id=call_id,
        )

        event.additional_properties = d
        return event

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
