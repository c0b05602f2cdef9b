from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.receipt_outcome import ReceiptOutcome
from ..types import UNSET, Unset

T = TypeVar("T", bound="WebhookReceipt")


@_attrs_define
class WebhookReceipt:
    """An inbound webhook as stored.

    Attributes:
        body_size (int): Size of the body as received.
        body_truncated (bool): Whether the stored body was cut at `gateway.receipt_body_limit_bytes`.
        headers (list[list[str]]): Header names and values; credentials are redacted.
        id (str): The receipt's id.
        outcome (ReceiptOutcome): What became of a webhook.
        provider (str): The provider instance it was sent to.
        received_at (datetime.datetime): When the gateway received it.
        signature (str): `verified`, `unsigned` or `invalid`.
        body (str | Unset): The raw body (only when one receipt is fetched): UTF-8 text, or base64 (see
            `body_encoding`).
        body_encoding (str | Unset): `utf8` or `base64`.
        body_pruned (bool | Unset): `true` when retention (`[retention] webhook_bodies_days`) or an erasure removed the
            raw
            body: the receipt stays, `body` is omitted. Absent otherwise.
        call_id (UUID | Unset): The call it concerns, when one matched.
        dedupe_key (str | Unset): The key duplicates are recognized by: the vendor's event id, else a SHA-256 of the
            body.
        event_type (str | Unset): The vendor's event type.
        reason (str | Unset): Why it was rejected.
        replay_of (str | Unset): The receipt this one replays (`POST /v1/webhook-receipts/{id}/replay`); omitted for
            webhooks as received.
        topic (str | Unset): The optional topic segment of the URL.
    """

    body_size: int
    body_truncated: bool
    headers: list[list[str]]
    id: str
    outcome: ReceiptOutcome
    provider: str
    received_at: datetime.datetime
    signature: str
    body: str | Unset = UNSET
    body_encoding: str | Unset = UNSET
    body_pruned: bool | Unset = UNSET
    call_id: UUID | Unset = UNSET
    dedupe_key: str | Unset = UNSET
    event_type: str | Unset = UNSET
    reason: str | Unset = UNSET
    replay_of: str | Unset = UNSET
    topic: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body_size = self.body_size

        body_truncated = self.body_truncated

        headers = []
        for headers_item_data in self.headers:
            headers_item = headers_item_data

            headers.append(headers_item)

        id = self.id

        outcome = self.outcome.value

        provider = self.provider

        received_at = self.received_at.isoformat()

        signature = self.signature

        body = self.body

        body_encoding = self.body_encoding

        body_pruned = self.body_pruned

        call_id: str | Unset = UNSET
        if not isinstance(self.call_id, Unset):
            call_id = str(self.call_id)

        dedupe_key = self.dedupe_key

        event_type = self.event_type

        reason = self.reason

        replay_of = self.replay_of

        topic = self.topic

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "body_size": body_size,
                "body_truncated": body_truncated,
                "headers": headers,
                "id": id,
                "outcome": outcome,
                "provider": provider,
                "received_at": received_at,
                "signature": signature,
            }
        )
        if body is not UNSET:
            field_dict["body"] = body
        if body_encoding is not UNSET:
            field_dict["body_encoding"] = body_encoding
        if body_pruned is not UNSET:
            field_dict["body_pruned"] = body_pruned
        if call_id is not UNSET:
            field_dict["call_id"] = call_id
        if dedupe_key is not UNSET:
            field_dict["dedupe_key"] = dedupe_key
        if event_type is not UNSET:
            field_dict["event_type"] = event_type
        if reason is not UNSET:
            field_dict["reason"] = reason
        if replay_of is not UNSET:
            field_dict["replay_of"] = replay_of
        if topic is not UNSET:
            field_dict["topic"] = topic

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        body_size = d.pop("body_size")

        body_truncated = d.pop("body_truncated")

        headers = []
        _headers = d.pop("headers")
        for headers_item_data in _headers:
            headers_item = cast(list[str], headers_item_data)

            headers.append(headers_item)

        id = d.pop("id")

        outcome = ReceiptOutcome(d.pop("outcome"))

        provider = d.pop("provider")

        received_at = datetime.datetime.fromisoformat(d.pop("received_at"))

        signature = d.pop("signature")

        body = d.pop("body", UNSET)

        body_encoding = d.pop("body_encoding", UNSET)

        body_pruned = d.pop("body_pruned", UNSET)

        _call_id = d.pop("call_id", UNSET)
        call_id: UUID | Unset
        if isinstance(_call_id, Unset):
            call_id = UNSET
        else:
            call_id = UUID(_call_id)

        dedupe_key = d.pop("dedupe_key", UNSET)

        event_type = d.pop("event_type", UNSET)

        reason = d.pop("reason", UNSET)

        replay_of = d.pop("replay_of", UNSET)

        topic = d.pop("topic", UNSET)

        webhook_receipt = cls(
            body_size=body_size,
            body_truncated=body_truncated,
            headers=headers,
            id=id,
            outcome=outcome,
            provider=provider,
            received_at=received_at,
            signature=signature,
            body=body,
            body_encoding=body_encoding,
            body_pruned=body_pruned,
            call_id=call_id,
            dedupe_key=dedupe_key,
            event_type=event_type,
            reason=reason,
            replay_of=replay_of,
            topic=topic,
        )

        webhook_receipt.additional_properties = d
        return webhook_receipt

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
