from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.status_event_view import StatusEventView


T = TypeVar("T", bound="StatusHistory")


@_attrs_define
class StatusHistory:
    """A call's status history, oldest first.

    Attributes:
        call_id (UUID): The call.
        events (list[StatusEventView]): Status changes, oldest first.
    """

    call_id: UUID
    events: list[StatusEventView]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        call_id = str(self.call_id)

        events = []
        for events_item_data in self.events:
            events_item = events_item_data.to_dict()
            events.append(events_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "call_id": call_id,
                "events": events,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.status_event_view import StatusEventView  # noqa: PLC0415

        d = dict(src_dict)
        call_id = UUID(d.pop("call_id"))

        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = StatusEventView.from_dict(events_item_data)

            events.append(events_item)

        status_history = cls(
            call_id=call_id,
            events=events,
        )

        status_history.additional_properties = d
        return status_history

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
