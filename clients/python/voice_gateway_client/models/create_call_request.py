from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.create_call_request_metadata import CreateCallRequestMetadata
    from ..models.create_call_request_variables import CreateCallRequestVariables


T = TypeVar("T", bound="CreateCallRequest")


@_attrs_define
class CreateCallRequest:
    """A request to place an outbound call.

    Example:
        {'provider': 'echo', 'to': '+14155550123', 'variables': {'customer_name': 'Ada'}}

    Attributes:
        to (str): The number to call, E.164: `+` then 8 to 15 digits, not starting with 0.
        agent_id (str | Unset): The vendor's agent or assistant id; the provider's configured default if omitted.
        first_message (str | Unset): What the agent says first, where the provider supports overriding it.
        from_number_id (str | Unset): The vendor's id of the number to call from; the provider's configured default if
            omitted.
        metadata (CreateCallRequestMetadata | Unset): Your own data, stored with the call and passed to the vendor where
            it allows.
        provider (str | Unset): The provider instance to use (see `GET /v1/providers`); the default provider if omitted.
        variables (CreateCallRequestVariables | Unset): Values for the agent's prompt (ElevenLabs dynamic variables,
            VAPI variable values).
    """

    to: str
    agent_id: str | Unset = UNSET
    first_message: str | Unset = UNSET
    from_number_id: str | Unset = UNSET
    metadata: CreateCallRequestMetadata | Unset = UNSET
    provider: str | Unset = UNSET
    variables: CreateCallRequestVariables | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        to = self.to

        agent_id = self.agent_id

        first_message = self.first_message

        from_number_id = self.from_number_id

        metadata: dict[str, Any] | Unset = UNSET
        if not isinstance(self.metadata, Unset):
            metadata = self.metadata.to_dict()

        provider = self.provider

        variables: dict[str, Any] | Unset = UNSET
        if not isinstance(self.variables, Unset):
            variables = self.variables.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "to": to,
            }
        )
        if agent_id is not UNSET:
            field_dict["agent_id"] = agent_id
        if first_message is not UNSET:
            field_dict["first_message"] = first_message
        if from_number_id is not UNSET:
            field_dict["from_number_id"] = from_number_id
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if provider is not UNSET:
            field_dict["provider"] = provider
        if variables is not UNSET:
            field_dict["variables"] = variables

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_call_request_metadata import CreateCallRequestMetadata  # noqa: PLC0415
        from ..models.create_call_request_variables import CreateCallRequestVariables  # noqa: PLC0415

        d = dict(src_dict)
        to = d.pop("to")

        agent_id = d.pop("agent_id", UNSET)

        first_message = d.pop("first_message", UNSET)

        from_number_id = d.pop("from_number_id", UNSET)

        _metadata = d.pop("metadata", UNSET)
        metadata: CreateCallRequestMetadata | Unset
        if isinstance(_metadata, Unset):
            metadata = UNSET
        else:
            metadata = CreateCallRequestMetadata.from_dict(_metadata)

        provider = d.pop("provider", UNSET)

        _variables = d.pop("variables", UNSET)
        variables: CreateCallRequestVariables | Unset
        if isinstance(_variables, Unset):
            variables = UNSET
        else:
            variables = CreateCallRequestVariables.from_dict(_variables)

        create_call_request = cls(
            to=to,
            agent_id=agent_id,
            first_message=first_message,
            from_number_id=from_number_id,
            metadata=metadata,
            provider=provider,
            variables=variables,
        )

        create_call_request.additional_properties = d
        return create_call_request

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
