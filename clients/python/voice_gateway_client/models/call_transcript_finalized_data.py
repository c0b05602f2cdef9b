from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.call import Call
    from ..models.turn_view import TurnView


T = TypeVar("T", bound="CallTranscriptFinalizedData")


@_attrs_define
class CallTranscriptFinalizedData:
    """`call.transcript.finalized`: the post-call transcript was reconciled with the live one; `turns` is the whole stored
    transcript.

        Attributes:
            call (Call): A call, normalized across providers.
            turns (list[TurnView]): Every stored turn, in order of `seq`.
    """

    call: Call
    turns: list[TurnView]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        call = self.call.to_dict()

        turns = []
        for turns_item_data in self.turns:
            turns_item = turns_item_data.to_dict()
            turns.append(turns_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "call": call,
                "turns": turns,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.call import Call  # noqa: PLC0415
        from ..models.turn_view import TurnView  # noqa: PLC0415

        d = dict(src_dict)
        call = Call.from_dict(d.pop("call"))

        turns = []
        _turns = d.pop("turns")
        for turns_item_data in _turns:
            turns_item = TurnView.from_dict(turns_item_data)

            turns.append(turns_item)

        call_transcript_finalized_data = cls(
            call=call,
            turns=turns,
        )

        call_transcript_finalized_data.additional_properties = d
        return call_transcript_finalized_data

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
