from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="EventEndpointWithSecret")


@_attrs_define
class EventEndpointWithSecret:
    """An endpoint with its signing secret: only in the answers that create or rotate it.

    Attributes:
        created_at (datetime.datetime): When the endpoint was created.
        enabled (bool): A disabled endpoint receives nothing; its pending deliveries wait until it is enabled.
        id (str): The endpoint's id (`cfg_<name>` for endpoints declared in config).
        read_only (bool): Declared in config (`[events.endpoints.<name>]`): the API cannot change it.
        secret (str): `whsec_` + base64 of 32 random bytes: verify deliveries with it (any Standard Webhooks library).
            Shown this once.
        updated_at (datetime.datetime): When the endpoint last changed.
        url (str): Where events are posted.
        description (str | Unset): A note to recognize the endpoint by.
        disabled_reason (str | Unset): Why the gateway disabled it (e.g. it answered 410 Gone, or failed for
            `disable_after_hours`).
        event_types (list[str] | Unset): The event types delivered; omitted: every type.
        failing_since (datetime.datetime | Unset): Since when every attempt to this endpoint failed; omitted while it
            succeeds.
        previous_secret_expires_at (datetime.datetime | Unset): Until when the secret before the last rotation signs
            too.
    """

    created_at: datetime.datetime
    enabled: bool
    id: str
    read_only: bool
    secret: str
    updated_at: datetime.datetime
    url: str
    description: str | Unset = UNSET
    disabled_reason: str | Unset = UNSET
    event_types: list[str] | Unset = UNSET
    failing_since: datetime.datetime | Unset = UNSET
    previous_secret_expires_at: datetime.datetime | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        enabled = self.enabled

        id = self.id

        read_only = self.read_only

        secret = self.secret

        updated_at = self.updated_at.isoformat()

        url = self.url

        description = self.description

        disabled_reason = self.disabled_reason

        event_types: list[str] | Unset = UNSET
        if not isinstance(self.event_types, Unset):
            event_types = self.event_types

        failing_since: str | Unset = UNSET
        if not isinstance(self.failing_since, Unset):
            failing_since = self.failing_since.isoformat()

        previous_secret_expires_at: str | Unset = UNSET
        if not isinstance(self.previous_secret_expires_at, Unset):
            previous_secret_expires_at = self.previous_secret_expires_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "enabled": enabled,
                "id": id,
                "read_only": read_only,
                "secret": secret,
                "updated_at": updated_at,
                "url": url,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if disabled_reason is not UNSET:
            field_dict["disabled_reason"] = disabled_reason
        if event_types is not UNSET:
            field_dict["event_types"] = event_types
        if failing_since is not UNSET:
            field_dict["failing_since"] = failing_since
        if previous_secret_expires_at is not UNSET:
            field_dict["previous_secret_expires_at"] = previous_secret_expires_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        enabled = d.pop("enabled")

        id = d.pop("id")

        read_only = d.pop("read_only")

        secret = d.pop("secret")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        url = d.pop("url")

        description = d.pop("description", UNSET)

        disabled_reason = d.pop("disabled_reason", UNSET)

        event_types = cast(list[str], d.pop("event_types", UNSET))

        _failing_since = d.pop("failing_since", UNSET)
        failing_since: datetime.datetime | Unset
        if isinstance(_failing_since, Unset):
            failing_since = UNSET
        else:
            failing_since = datetime.datetime.fromisoformat(_failing_since)

        _previous_secret_expires_at = d.pop("previous_secret_expires_at", UNSET)
        previous_secret_expires_at: datetime.datetime | Unset
        if isinstance(_previous_secret_expires_at, Unset):
            previous_secret_expires_at = UNSET
        else:
            previous_secret_expires_at = datetime.datetime.fromisoformat(_previous_secret_expires_at)

        event_endpoint_with_secret = cls(
            created_at=created_at,
            enabled=enabled,
            id=id,
            read_only=read_only,
            secret=secret,
            updated_at=updated_at,
            url=url,
            description=description,
            disabled_reason=disabled_reason,
            event_types=event_types,
            failing_since=failing_since,
            previous_secret_expires_at=previous_secret_expires_at,
        )

        event_endpoint_with_secret.additional_properties = d
        return event_endpoint_with_secret

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
