from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AuditEvent")


@_attrs_define
class AuditEvent:
    """One audited action.

    Attributes:
        action (str): e.g. `auth.login`, `user.create`, `api_key.revoke`, `call.create`.
        actor_type (str): `user`, `api_key`, `anonymous` or `cli`.
        at (datetime.datetime): When it happened.
        id (str): The record's id.
        outcome (str): `success`, `failure` or `denied`.
        actor_id (str | Unset): The user's or key's id; omitted for anonymous actors and the CLI.
        actor_name (str | Unset): The username or key name (for a failed login, the name tried).
        client_addr (str | Unset): The client's IP address, when known.
        detail (str | Unset): More about the outcome, e.g. why a login failed.
        request_id (str | Unset): The request that did it (also in the logs).
        target (str | Unset): What the action concerned, e.g. `user:<id>`, `call:<id>`.
    """

    action: str
    actor_type: str
    at: datetime.datetime
    id: str
    outcome: str
    actor_id: str | Unset = UNSET
    actor_name: str | Unset = UNSET
    client_addr: str | Unset = UNSET
    detail: str | Unset = UNSET
    request_id: str | Unset = UNSET
    target: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor_type = self.actor_type

        at = self.at.isoformat()

        id = self.id

        outcome = self.outcome

        actor_id = self.actor_id

        actor_name = self.actor_name

        client_addr = self.client_addr

        detail = self.detail

        request_id = self.request_id

        target = self.target

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "actor_type": actor_type,
                "at": at,
                "id": id,
                "outcome": outcome,
            }
        )
        if actor_id is not UNSET:
            field_dict["actor_id"] = actor_id
        if actor_name is not UNSET:
            field_dict["actor_name"] = actor_name
        if client_addr is not UNSET:
            field_dict["client_addr"] = client_addr
        if detail is not UNSET:
            field_dict["detail"] = detail
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if target is not UNSET:
            field_dict["target"] = target

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        actor_type = d.pop("actor_type")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        id = d.pop("id")

        outcome = d.pop("outcome")

        actor_id = d.pop("actor_id", UNSET)

        actor_name = d.pop("actor_name", UNSET)

        client_addr = d.pop("client_addr", UNSET)

        detail = d.pop("detail", UNSET)

        request_id = d.pop("request_id", UNSET)

        target = d.pop("target", UNSET)

        audit_event = cls(
            action=action,
            actor_type=actor_type,
            at=at,
            id=id,
            outcome=outcome,
            actor_id=actor_id,
            actor_name=actor_name,
            client_addr=client_addr,
            detail=detail,
            request_id=request_id,
            target=target,
        )

        audit_event.additional_properties = d
        return audit_event

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
