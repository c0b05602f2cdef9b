from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.error_detail import ErrorDetail


T = TypeVar("T", bound="ApiError")


@_attrs_define
class ApiError:
    """The body of every error response (the `Error` schema).

    Example:
        {'error': {'code': 'validation_failed', 'details': {'field': 'to'}, 'message': "`to` must be an E.164 number:
            '+' then 8 to 15 digits"}, 'request_id': '0193a0c4-5b8e-7f31-9d2e-6c1b0a9f4e21'}

    Attributes:
        error (ErrorDetail): What went wrong. Example: {'code': 'validation_failed', 'details': {'field': 'to'},
            'message': "`to` must be an E.164 number: '+' then 8 to 15 digits"}.
        request_id (str): The request's id, also in the `X-Request-Id` response header and in the gateway's logs.
    """

    error: ErrorDetail
    request_id: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        error = self.error.to_dict()

        request_id = self.request_id

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "error": error,
                "request_id": request_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.error_detail import ErrorDetail  # noqa: PLC0415

        d = dict(src_dict)
        error = ErrorDetail.from_dict(d.pop("error"))

        request_id = d.pop("request_id")

        api_error = cls(
            error=error,
            request_id=request_id,
        )

        api_error.additional_properties = d
        return api_error

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
