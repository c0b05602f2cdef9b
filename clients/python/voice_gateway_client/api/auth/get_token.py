from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.token_request import TokenRequest
from ...models.token_response import TokenResponse
from ...types import Response


def _get_kwargs(
    *,
    body: TokenRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/auth/token",
    }

    _kwargs["data"] = body.to_dict()
    headers["Content-Type"] = "application/x-www-form-urlencoded"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiError | TokenResponse | None:
    if response.status_code == 200:
        response_200 = TokenResponse.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ApiError.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ApiError.from_dict(response.json())

        return response_401

    if response.status_code == 413:
        response_413 = ApiError.from_dict(response.json())

        return response_413

    if response.status_code == 415:
        response_415 = ApiError.from_dict(response.json())

        return response_415

    if response.status_code == 422:
        response_422 = ApiError.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ApiError.from_dict(response.json())

        return response_429

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
) -> Response[ApiError | TokenResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: TokenRequest,
) -> Response[ApiError | TokenResponse]:
    """Get tokens (OAuth2 password grant, or a refresh-token grant).

     `grant_type=password` with `username` (username or email) and `password`;
    `grant_type=refresh_token` with `refresh_token`. Wrong credentials and unknown users get the
    same answer. Failed logins per username and per address are limited (429, `Retry-After`);
    when too many logins are being checked at once, 503 with `Retry-After`.

    Args:
        body (TokenRequest): The OAuth2 token request (`application/x-www-form-urlencoded`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | TokenResponse]
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
    client: AuthenticatedClient | Client,
    body: TokenRequest,
) -> ApiError | TokenResponse | None:
    """Get tokens (OAuth2 password grant, or a refresh-token grant).

     `grant_type=password` with `username` (username or email) and `password`;
    `grant_type=refresh_token` with `refresh_token`. Wrong credentials and unknown users get the
    same answer. Failed logins per username and per address are limited (429, `Retry-After`);
    when too many logins are being checked at once, 503 with `Retry-After`.

    Args:
        body (TokenRequest): The OAuth2 token request (`application/x-www-form-urlencoded`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | TokenResponse
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: TokenRequest,
) -> Response[ApiError | TokenResponse]:
    """Get tokens (OAuth2 password grant, or a refresh-token grant).

     `grant_type=password` with `username` (username or email) and `password`;
    `grant_type=refresh_token` with `refresh_token`. Wrong credentials and unknown users get the
    same answer. Failed logins per username and per address are limited (429, `Retry-After`);
    when too many logins are being checked at once, 503 with `Retry-After`.

    Args:
        body (TokenRequest): The OAuth2 token request (`application/x-www-form-urlencoded`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | TokenResponse]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: TokenRequest,
) -> ApiError | TokenResponse | None:
    """Get tokens (OAuth2 password grant, or a refresh-token grant).

     `grant_type=password` with `username` (username or email) and `password`;
    `grant_type=refresh_token` with `refresh_token`. Wrong credentials and unknown users get the
    same answer. Failed logins per username and per address are limited (429, `Retry-After`);
    when too many logins are being checked at once, 503 with `Retry-After`.

    Args:
        body (TokenRequest): The OAuth2 token request (`application/x-www-form-urlencoded`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | TokenResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
