from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.call_status import CallStatus
from ..types import UNSET, Unset

T = TypeVar("T", bound="StatusEventView")


@_attrs_define
class StatusEventView:
    """One status change the gateway received, applied or not.

    Attributes:
        applied (bool): False for late or duplicate events that did not change the call (kept for the record).
        id (int): The event's sequence number (ascending in arrival order).
        recorded_at (datetime.datetime): When the gateway recorded it.
        source (str): `api`, `dispatch` or `webhook`.
        to_status (CallStatus): The status of a call: `queued -> initiating -> ringing -> in_progress -> completed |
            failed |
            no_answer | busy | canceled`. Statuses only move forward; the last five are terminal.
        from_status (CallStatus | Unset): The status of a call: `queued -> initiating -> ringing -> in_progress ->
            completed | failed |
            no_answer | busy | canceled`. Statuses only move forward; the last five are terminal.
        occurred_at (datetime.datetime | Unset): When the vendor says it happened.
        reason (str | Unset): Why (e.g. the vendor's end reason).
        receipt_id (str | Unset): The webhook receipt that carried it.
        vendor_status (str | Unset): The vendor's own status string.
    """

    applied: bool
    id: int
    recorded_at: datetime.datetime
    source: str
    to_status: CallStatus
    from_status: CallStatus | Unset = UNSET
    occurred_at: datetime.datetime | Unset = UNSET
    reason: str | Unset = UNSET
    receipt_id: str | Unset = UNSET
    vendor_status: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        applied = self.applied

        id = self.id

        recorded_at = self.recorded_at.isoformat()

        source = self.source

        to_status = self.to_status.value

        from_status: str | Unset = UNSET
        if not isinstance(self.from_status, Unset):
            from_status = self.from_status.value

        occurred_at: str | Unset = UNSET
        if not isinstance(self.occurred_at, Unset):
            occurred_at = self.occurred_at.isoformat()

        reason = self.reason

        receipt_id = self.receipt_id

        vendor_status = self.vendor_status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "applied": applied,
                "id": id,
                "recorded_at": recorded_at,
                "source": source,
                "to_status": to_status,
            }
        )
        if from_status is not UNSET:
            field_dict["from_status"] = from_status
        if occurred_at is not UNSET:
            field_dict["occurred_at"] = occurred_at
        if reason is not UNSET:
            field_dict["reason"] = reason
        if receipt_id is not UNSET:
            field_dict["receipt_id"] = receipt_id
        if vendor_status is not UNSET:
            field_dict["vendor_status"] = vendor_status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        applied = d.pop("applied")

        id = d.pop("id")

        recorded_at = datetime.datetime.fromisoformat(d.pop("recorded_at"))

        source = d.pop("source")

        to_status = CallStatus(d.pop("to_status"))

        _from_status = d.pop("from_status", UNSET)
        from_status: CallStatus | Unset
        if isinstance(_from_status, Unset):
            from_status = UNSET
        else:
            from_status = CallStatus(_from_status)

        _occurred_at = d.pop("occurred_at", UNSET)
        occurred_at: datetime.datetime | Unset
        if isinstance(_occurred_at, Unset):
            occurred_at = UNSET
        else:
            occurred_at = datetime.datetime.fromisoformat(_occurred_at)

        reason = d.pop("reason", UNSET)

        receipt_id = d.pop("receipt_id", UNSET)

        vendor_status = d.pop("vendor_status", UNSET)

        status_event_view = cls(
            applied=applied,
            id=id,
            recorded_at=recorded_at,
            source=source,
            to_status=to_status,
            from_status=from_status,
            occurred_at=occurred_at,
            reason=reason,
            receipt_id=receipt_id,
            vendor_status=vendor_status,
        )

        status_event_view.additional_properties = d
        return status_event_view

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
