from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.turn_view import TurnView


T = TypeVar("T", bound="CallTranscriptTurnData")


@_attrs_define
class CallTranscriptTurnData:
    """`call.transcript.turn`: a final live turn was stored (partial turns stay on the live stream).

    Attributes:
        turn (TurnView): One turn of a call's transcript.
    """

    turn: TurnView
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        turn = self.turn.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "turn": turn,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.turn_view import TurnView  # noqa: PLC0415

        d = dict(src_dict)
        turn = TurnView.from_dict(d.pop("turn"))

        call_transcript_turn_data = cls(
            turn=turn,
        )

        call_transcript_turn_data.additional_properties = d
        return call_transcript_turn_data

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
