from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="User")


@_attrs_define
class User:
    """A user (never the password).

    Attributes:
        created_at (datetime.datetime): When the user was created.
        disabled (bool): A disabled user cannot log in and its tokens stop working.
        email (str): The user's email; also accepted as the login name.
        id (str): The user's id.
        role (str): `admin`, `operator` or `viewer`.
        updated_at (datetime.datetime): When the user last changed.
        username (str): The login name (lowercase).
    """

    created_at: datetime.datetime
    disabled: bool
    email: str
    id: str
    role: str
    updated_at: datetime.datetime
    username: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        disabled = self.disabled

        email = self.email

        id = self.id

        role = self.role

        updated_at = self.updated_at.isoformat()

        username = self.username

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "disabled": disabled,
                "email": email,
                "id": id,
                "role": role,
                "updated_at": updated_at,
                "username": username,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        disabled = d.pop("disabled")

        email = d.pop("email")

        id = d.pop("id")

        role = d.pop("role")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        username = d.pop("username")

        user = cls(
            created_at=created_at,
            disabled=disabled,
            email=email,
            id=id,
            role=role,
            updated_at=updated_at,
            username=username,
        )

        user.additional_properties = d
        return user

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
