from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.delivery_status import DeliveryStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.delivery_attempt import DeliveryAttempt


T = TypeVar("T", bound="EventDelivery")


@_attrs_define
class EventDelivery:
    """One event's delivery to one endpoint.

    Attributes:
        attempts (list[DeliveryAttempt]): Every attempt, oldest first.
        created_at (datetime.datetime): When the delivery was created.
        endpoint_id (str): The endpoint.
        event_id (str): The event delivered (`webhook-id`).
        event_type (str): The event's type.
        id (str): The delivery's id.
        sequence (int): The event's sequence within its call.
        status (DeliveryStatus): Where a delivery stands.
        updated_at (datetime.datetime): When it last changed.
        call_id (UUID | Unset): The event's call; omitted for `ping`.
        next_attempt_at (datetime.datetime | Unset): When the next attempt is due (pending deliveries).
    """

    attempts: list[DeliveryAttempt]
    created_at: datetime.datetime
    endpoint_id: str
    event_id: str
    event_type: str
    id: str
    sequence: int
    status: DeliveryStatus
    updated_at: datetime.datetime
    call_id: UUID | Unset = UNSET
    next_attempt_at: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempts = []
        for attempts_item_data in self.attempts:
            attempts_item = attempts_item_data.to_dict()
            attempts.append(attempts_item)

        created_at = self.created_at.isoformat()

        endpoint_id = self.endpoint_id

        event_id = self.event_id

        event_type = self.event_type

        id = self.id

        sequence = self.sequence

        status = self.status.value

        updated_at = self.updated_at.isoformat()

        call_id: str | Unset = UNSET
        if not isinstance(self.call_id, Unset):
            call_id = str(self.call_id)

        next_attempt_at: str | Unset = UNSET
        if not isinstance(self.next_attempt_at, Unset):
            next_attempt_at = self.next_attempt_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempts": attempts,
                "created_at": created_at,
                "endpoint_id": endpoint_id,
                "event_id": event_id,
                "event_type": event_type,
                "id": id,
                "sequence": sequence,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if call_id is not UNSET:
            field_dict["call_id"] = call_id
        if next_attempt_at is not UNSET:
            field_dict["next_attempt_at"] = next_attempt_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.delivery_attempt import DeliveryAttempt  # noqa: PLC0415

        d = dict(src_dict)
        attempts = []
        _attempts = d.pop("attempts")
        for attempts_item_data in _attempts:
            attempts_item = DeliveryAttempt.from_dict(attempts_item_data)

            attempts.append(attempts_item)

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        endpoint_id = d.pop("endpoint_id")

        event_id = d.pop("event_id")

        event_type = d.pop("event_type")

        id = d.pop("id")

        sequence = d.pop("sequence")

        status = DeliveryStatus(d.pop("status"))

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        _call_id = d.pop("call_id", UNSET)
        call_id: UUID | Unset
        if isinstance(_call_id, Unset):
            call_id = UNSET
        else:
            call_id = UUID(_call_id)

        _next_attempt_at = d.pop("next_attempt_at", UNSET)
        next_attempt_at: datetime.datetime | Unset
        if isinstance(_next_attempt_at, Unset):
            next_attempt_at = UNSET
        else:
            next_attempt_at = datetime.datetime.fromisoformat(_next_attempt_at)

        event_delivery = cls(
            attempts=attempts,
            created_at=created_at,
            endpoint_id=endpoint_id,
            event_id=event_id,
            event_type=event_type,
            id=id,
            sequence=sequence,
            status=status,
            updated_at=updated_at,
            call_id=call_id,
            next_attempt_at=next_attempt_at,
        )

        event_delivery.additional_properties = d
        return event_delivery

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
