from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.call_status import CallStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.call import Call


T = TypeVar("T", bound="CallStatusChangedData")


@_attrs_define
class CallStatusChangedData:
    """`call.status_changed`: every applied status change.

    Attributes:
        call (Call): A call, normalized across providers.
        from_ (CallStatus): The status of a call: `queued -> initiating -> ringing -> in_progress -> completed | failed
            |
            no_answer | busy | canceled`. Statuses only move forward; the last five are terminal.
        to (CallStatus): The status of a call: `queued -> initiating -> ringing -> in_progress -> completed | failed |
            no_answer | busy | canceled`. Statuses only move forward; the last five are terminal.
        reason (str | Unset): Why, when known (e.g. the vendor's end reason); omitted otherwise.
    """

    call: Call
    from_: CallStatus
    to: CallStatus
    reason: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        call = self.call.to_dict()

        from_ = self.from_.value

        to = self.to.value

        reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "call": call,
                "from": from_,
                "to": to,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.call import Call  # noqa: PLC0415

        d = dict(src_dict)
        call = Call.from_dict(d.pop("call"))

        from_ = CallStatus(d.pop("from"))

        to = CallStatus(d.pop("to"))

        reason = d.pop("reason", UNSET)

        call_status_changed_data = cls(
            call=call,
            from_=from_,
            to=to,
            reason=reason,
        )

        call_status_changed_data.additional_properties = d
        return call_status_changed_data

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
