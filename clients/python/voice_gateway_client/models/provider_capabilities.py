from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ProviderCapabilities")


@_attrs_define
class ProviderCapabilities:
    """What a provider implementation can do.

    Attributes:
        fetch_call (bool): It can fetch a call's state from the vendor (`POST /v1/calls/{id}/refresh`, reconciliation).
        hangup (bool): It can hang up a running call (`POST /v1/calls/{id}/hangup`).
        idempotent_create (bool): The vendor deduplicates creates by an idempotency key the gateway sends with each
            create,
            so a create whose outcome is unknown (a timeout after sending) is sent again with the
            same key; without it such a create is never resent, and the call stays pending until
            the vendor's webhooks or a refresh tell.
        live_transcript (bool): It delivers transcript turns while the call runs.
        outbound_call (bool): It can place outbound calls.
        post_call_report (bool): It sends a report (transcript, cost, analysis) after the call.
    """

    fetch_call: bool
    hangup: bool
    idempotent_create: bool
    live_transcript: bool
    outbound_call: bool
    post_call_report: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        fetch_call = self.fetch_call

        hangup = self.hangup

        idempotent_create = self.idempotent_create

        live_transcript = self.live_transcript

        outbound_call = self.outbound_call

        post_call_report = self.post_call_report

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "fetch_call": fetch_call,
                "hangup": hangup,
                "idempotent_create": idempotent_create,
                "live_transcript": live_transcript,
                "outbound_call": outbound_call,
                "post_call_report": post_call_report,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        fetch_call = d.pop("fetch_call")

        hangup = d.pop("hangup")

        idempotent_create = d.pop("idempotent_create")

        live_transcript = d.pop("live_transcript")

        outbound_call = d.pop("outbound_call")

        post_call_report = d.pop("post_call_report")

        provider_capabilities = cls(
            fetch_call=fetch_call,
            hangup=hangup,
            idempotent_create=idempotent_create,
            live_transcript=live_transcript,
            outbound_call=outbound_call,
            post_call_report=post_call_report,
        )

        provider_capabilities.additional_properties = d
        return provider_capabilities

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
