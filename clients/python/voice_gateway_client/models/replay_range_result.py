from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.replay_outcomes import ReplayOutcomes


T = TypeVar("T", bound="ReplayRangeResult")


@_attrs_define
class ReplayRangeResult:
    """What a range replay did.

    Example:
        {'outcomes': {'applied': 2, 'duplicate': 0, 'rejected': 0, 'unknown_call': 0}, 'receipts':
            ['0193a0c4-6a10-7c2e-8f00-2b9d1e0c7a11', '0193a0c4-6a10-7c2e-8f00-2b9d1e0c7a12'], 'replayed': 2, 'skipped': 1}

    Attributes:
        outcomes (ReplayOutcomes): How many replays came to each outcome.
        receipts (list[str]): The ids of the new receipts, in the order their originals were received.
        replayed (int): Receipts replayed: one new receipt each.
        skipped (int): Receipts that matched but were not replayed: refused when received, or their body is not (fully)
            stored.
        next_cursor (str | Unset): More receipts match: send the same request with this as `cursor`. Omitted when all
            were taken.
    """

    outcomes: ReplayOutcomes
    receipts: list[str]
    replayed: int
    skipped: int
    next_cursor: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        outcomes = self.outcomes.to_dict()

        receipts = self.receipts

        replayed = self.replayed

        skipped = self.skipped

        next_cursor = self.next_cursor

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "outcomes": outcomes,
                "receipts": receipts,
                "replayed": replayed,
                "skipped": skipped,
            }
        )
        if next_cursor is not UNSET:
            field_dict["next_cursor"] = next_cursor

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.replay_outcomes import ReplayOutcomes  # noqa: PLC0415

        d = dict(src_dict)
        outcomes = ReplayOutcomes.from_dict(d.pop("outcomes"))

        receipts = cast(list[str], d.pop("receipts"))

        replayed = d.pop("replayed")

        skipped = d.pop("skipped")

        next_cursor = d.pop("next_cursor", UNSET)

        replay_range_result = cls(
            outcomes=outcomes,
            receipts=receipts,
            replayed=replayed,
            skipped=skipped,
            next_cursor=next_cursor,
        )

        replay_range_result.additional_properties = d
        return replay_range_result

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
