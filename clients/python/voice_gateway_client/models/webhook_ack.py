from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.webhook_ack_outcome import WebhookAckOutcome
from ..types import UNSET, Unset

T = TypeVar("T", bound="WebhookAck")


@_attrs_define
class WebhookAck:
    """The gateway's answer to a stored webhook (a provider whose vendor expects another answer sends that instead, so
    every property is optional).

        Example:
            {'call_id': '0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21', 'outcome': 'applied', 'receipt_id':
                '0193a0c4-6a10-7c2e-8f00-2b9d1e0c7a11', 'status': 'ok'}

        Attributes:
            call_id (UUID | Unset): The call it concerns; omitted when none matched.
            outcome (WebhookAckOutcome | Unset): What the webhook did: `applied`, or `duplicate` (applied zero times).
            receipt_id (str | Unset): The stored receipt (see `GET /v1/webhook-receipts/{id}`).
            status (str | Unset): `ok`. Example: ok.
    """

    call_id: UUID | Unset = UNSET
    outcome: WebhookAckOutcome | Unset = UNSET
    receipt_id: str | Unset = UNSET
    status: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        call_id: str | Unset = UNSET
        if not isinstance(self.call_id, Unset):
            call_id = str(self.call_id)

        outcome: str | Unset = UNSET
        if not isinstance(self.outcome, Unset):
            outcome = self.outcome.value

        receipt_id = self.receipt_id

        status = self.status

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if call_id is not UNSET:
            field_dict["call_id"] = call_id
        if outcome is not UNSET:
            field_dict["outcome"] = outcome
        if receipt_id is not UNSET:
            field_dict["receipt_id"] = receipt_id
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        _call_id = d.pop("call_id", UNSET)
        call_id: UUID | Unset
        if isinstance(_call_id, Unset):
            call_id = UNSET
        else:
            call_id = UUID(_call_id)

        _outcome = d.pop("outcome", UNSET)
        outcome: WebhookAckOutcome | Unset
        if isinstance(_outcome, Unset):
            outcome = UNSET
        else:
            outcome = WebhookAckOutcome(_outcome)

        receipt_id = d.pop("receipt_id", UNSET)

        status = d.pop("status", UNSET)

        webhook_ack = cls(
            call_id=call_id,
            outcome=outcome,
            receipt_id=receipt_id,
            status=status,
        )

        webhook_ack.additional_properties = d
        return webhook_ack

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
