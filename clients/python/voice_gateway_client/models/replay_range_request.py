from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.receipt_outcome import ReceiptOutcome
from ..types import UNSET, Unset

T = TypeVar("T", bound="ReplayRangeRequest")


@_attrs_define
class ReplayRangeRequest:
    """Which stored webhooks to replay.

    Example:
        {'outcome': 'unknown_call', 'provider': 'vapi', 'since': '2026-12-20T09:00:00+00:00'}

    Attributes:
        provider (str): The provider instance the webhooks were sent to (see `GET /v1/providers`).
        since (datetime.datetime): Webhooks received at or after this time (RFC 3339).
        cursor (str | Unset): `next_cursor` of the previous answer, with the same filter: go on after the receipts it
            took.
        force (bool | Unset): Apply the events of deliveries applied before again (default `false`), as for one receipt.
        limit (int | Unset): At most this many receipts, 1 to 1000 (default 1000); `next_cursor` says when more match.
        outcome (ReceiptOutcome | Unset): What became of a webhook.
        until (datetime.datetime | Unset): Webhooks received before this time (RFC 3339); now if omitted.
    """

    provider: str
    since: datetime.datetime
    cursor: str | Unset = UNSET
    force: bool | Unset = UNSET
    limit: int | Unset = UNSET
    outcome: ReceiptOutcome | Unset = UNSET
    until: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        provider = self.provider

        since = self.since.isoformat()

        cursor = self.cursor

        force = self.force

        limit = self.limit

        outcome: str | Unset = UNSET
        if not isinstance(self.outcome, Unset):
            outcome = self.outcome.value

        until: str | Unset = UNSET
        if not isinstance(self.until, Unset):
            until = self.until.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "provider": provider,
                "since": since,
            }
        )
        if cursor is not UNSET:
            field_dict["cursor"] = cursor
        if force is not UNSET:
            field_dict["force"] = force
        if limit is not UNSET:
            field_dict["limit"] = limit
        if outcome is not UNSET:
            field_dict["outcome"] = outcome
        if until is not UNSET:
            field_dict["until"] = until

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        provider = d.pop("provider")

        since = datetime.datetime.fromisoformat(d.pop("since"))

        cursor = d.pop("cursor", UNSET)

        force = d.pop("force", UNSET)

        limit = d.pop("limit", UNSET)

        _outcome = d.pop("outcome", UNSET)
        outcome: ReceiptOutcome | Unset
        if isinstance(_outcome, Unset):
            outcome = UNSET
        else:
            outcome = ReceiptOutcome(_outcome)

        _until = d.pop("until", UNSET)
        until: datetime.datetime | Unset
        if isinstance(_until, Unset):
            until = UNSET
        else:
            until = datetime.datetime.fromisoformat(_until)

        replay_range_request = cls(
            provider=provider,
            since=since,
            cursor=cursor,
            force=force,
            limit=limit,
            outcome=outcome,
            until=until,
        )

        replay_range_request.additional_properties = d
        return replay_range_request

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
