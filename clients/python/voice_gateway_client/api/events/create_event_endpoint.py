from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.create_event_endpoint import CreateEventEndpoint
from ...models.event_endpoint_with_secret import EventEndpointWithSecret
from ...types import Response


def _get_kwargs(
    *,
    body: CreateEventEndpoint,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/event-endpoints",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiError | EventEndpointWithSecret | None:
    if response.status_code == 201:
        response_201 = EventEndpointWithSecret.from_dict(response.json())

        return response_201

    if response.status_code == 400:
        response_400 = ApiError.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ApiError.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ApiError.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ApiError.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ApiError.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ApiError.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ApiError.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ApiError.from_dict(response.json())

        return response_422

    if response.status_code == 500:
        response_500 = ApiError.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ApiError.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ApiError | EventEndpointWithSecret]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateEventEndpoint,
) -> Response[ApiError | EventEndpointWithSecret]:
    """Register an application endpoint (admin). Its secret is in this answer only.

     From now on every event of every call whose type the filter matches is posted to `url`, signed per
    Standard Webhooks with the `secret` in this answer (`whsec_` + base64 of 32 random bytes; shown
    once). The URL must be `http(s)` (`https` in production); destinations resolving to loopback,
    private, link-local, unique-local or metadata addresses are refused (422) unless `[events]
    allow_private_destinations`. Admin only; audited.

    Args:
        body (CreateEventEndpoint): A new endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | EventEndpointWithSecret]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CreateEventEndpoint,
) -> ApiError | EventEndpointWithSecret | None:
    """Register an application endpoint (admin). Its secret is in this answer only.

     From now on every event of every call whose type the filter matches is posted to `url`, signed per
    Standard Webhooks with the `secret` in this answer (`whsec_` + base64 of 32 random bytes; shown
    once). The URL must be `http(s)` (`https` in production); destinations resolving to loopback,
    private, link-local, unique-local or metadata addresses are refused (422) unless `[events]
    allow_private_destinations`. Admin only; audited.

    Args:
        body (CreateEventEndpoint): A new endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | EventEndpointWithSecret
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateEventEndpoint,
) -> Response[ApiError | EventEndpointWithSecret]:
    """Register an application endpoint (admin). Its secret is in this answer only.

     From now on every event of every call whose type the filter matches is posted to `url`, signed per
    Standard Webhooks with the `secret` in this answer (`whsec_` + base64 of 32 random bytes; shown
    once). The URL must be `http(s)` (`https` in production); destinations resolving to loopback,
    private, link-local, unique-local or metadata addresses are refused (422) unless `[events]
    allow_private_destinations`. Admin only; audited.

    Args:
        body (CreateEventEndpoint): A new endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | EventEndpointWithSecret]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateEventEndpoint,
) -> ApiError | EventEndpointWithSecret | None:
    """Register an application endpoint (admin). Its secret is in this answer only.

     From now on every event of every call whose type the filter matches is posted to `url`, signed per
    Standard Webhooks with the `secret` in this answer (`whsec_` + base64 of 32 random bytes; shown
    once). The URL must be `http(s)` (`https` in production); destinations resolving to loopback,
    private, link-local, unique-local or metadata addresses are refused (422) unless `[events]
    allow_private_destinations`. Admin only; audited.

    Args:
        body (CreateEventEndpoint): A new endpoint.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | EventEndpointWithSecret
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
