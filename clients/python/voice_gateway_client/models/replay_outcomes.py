from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ReplayOutcomes")


@_attrs_define
class ReplayOutcomes:
    """How many replays came to each outcome.

    Attributes:
        applied (int): Their events were applied to a call.
        duplicate (int): Applied before (and not forced, or forcing changed nothing).
        rejected (int): The provider now refuses the stored body (see each receipt's `reason`).
        unknown_call (int): Their call is still not known.
    """

    applied: int
    duplicate: int
    rejected: int
    unknown_call: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        applied = self.applied

        duplicate = self.duplicate

        rejected = self.rejected

        unknown_call = self.unknown_call

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "applied": applied,
                "duplicate": duplicate,
                "rejected": rejected,
                "unknown_call": unknown_call,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        applied = d.pop("applied")

        duplicate = d.pop("duplicate")

        rejected = d.pop("rejected")

        unknown_call = d.pop("unknown_call")

        replay_outcomes = cls(
            applied=applied,
            duplicate=duplicate,
            rejected=rejected,
            unknown_call=unknown_call,
        )

        replay_outcomes.additional_properties = d
        return replay_outcomes

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
