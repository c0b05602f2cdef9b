from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.delivery_attempt import DeliveryAttempt


T = TypeVar("T", bound="TestDelivery")


@_attrs_define
class TestDelivery:
    """What the test route's `ping` came to.

    Attributes:
        attempt (DeliveryAttempt): One attempt of a delivery.
        event_id (str): The `ping` event sent.
        succeeded (bool): Whether the endpoint answered 2xx.
    """

    attempt: DeliveryAttempt
    event_id: str
    succeeded: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        attempt = self.attempt.to_dict()

        event_id = self.event_id

        succeeded = self.succeeded

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "attempt": attempt,
                "event_id": event_id,
                "succeeded": succeeded,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.delivery_attempt import DeliveryAttempt  # noqa: PLC0415

        d = dict(src_dict)
        attempt = DeliveryAttempt.from_dict(d.pop("attempt"))

        event_id = d.pop("event_id")

        succeeded = d.pop("succeeded")

        test_delivery = cls(
            attempt=attempt,
            event_id=event_id,
            succeeded=succeeded,
        )

        test_delivery.additional_properties = d
        return test_delivery

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
