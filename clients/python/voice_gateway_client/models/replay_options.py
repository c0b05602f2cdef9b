from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ReplayOptions")


@_attrs_define
class ReplayOptions:
    """How to replay one receipt; the body may be omitted.

    Example:
        {'force': False}

    Attributes:
        force (bool | Unset): Apply the events again even if this delivery was applied to its call before (default
            `false`: then the replay is a `duplicate`). Applying again is idempotent: statuses only move forward, turns
            already stored are not added again; the new receipt is `applied` if that changed the call (a field, its status
            or new turns), else `duplicate`.
    """

    force: bool | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        force = self.force

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if force is not UNSET:
            field_dict["force"] = force

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        force = d.pop("force", UNSET)

        replay_options = cls(
            force=force,
        )

        replay_options.additional_properties = d
        return replay_options

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
