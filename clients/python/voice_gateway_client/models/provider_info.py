from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.provider_capabilities import ProviderCapabilities


T = TypeVar("T", bound="ProviderInfo")


@_attrs_define
class ProviderInfo:
    """A configured provider instance.

    Attributes:
        capabilities (ProviderCapabilities): What a provider implementation can do.
        default (bool): Whether calls that name no provider use this one.
        description (str): What the implementation is.
        kind (str): The implementation (`echo`, `elevenlabs`, `vapi`, ...).
        name (str): The instance name: use it as `provider` in `POST /v1/calls`.
        version (str): The implementation's version.
        webhook_path (str): Where the vendor must send webhooks, relative to this gateway's base URL.
        signature_scheme (str | Unset): How its webhooks are signed, if they are.
    """

    capabilities: ProviderCapabilities
    default: bool
    description: str
    kind: str
    name: str
    version: str
    webhook_path: str
    signature_scheme: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        capabilities = self.capabilities.to_dict()

        default = self.default

        description = self.description

        kind = self.kind

        name = self.name

        version = self.version

        webhook_path = self.webhook_path

        signature_scheme = self.signature_scheme

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "capabilities": capabilities,
                "default": default,
                "description": description,
                "kind": kind,
                "name": name,
                "version": version,
                "webhook_path": webhook_path,
            }
        )
        if signature_scheme is not UNSET:
            field_dict["signature_scheme"] = signature_scheme

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.provider_capabilities import ProviderCapabilities  # noqa: PLC0415

        d = dict(src_dict)
        capabilities = ProviderCapabilities.from_dict(d.pop("capabilities"))

        default = d.pop("default")

        description = d.pop("description")

        kind = d.pop("kind")

        name = d.pop("name")

        version = d.pop("version")

        webhook_path = d.pop("webhook_path")

        signature_scheme = d.pop("signature_scheme", UNSET)

        provider_info = cls(
            capabilities=capabilities,
            default=default,
            description=description,
            kind=kind,
            name=name,
            version=version,
            webhook_path=webhook_path,
            signature_scheme=signature_scheme,
        )

        provider_info.additional_properties = d
        return provider_info

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
