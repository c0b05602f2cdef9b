from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    id: str,
    *,
    range_: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(range_, Unset):
        headers["Range"] = range_

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/calls/{id}/recording".format(
            id=quote(str(id), safe=""),
        ),
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiError | File | None:
    if response.status_code == 200:
        response_200 = File(payload=BytesIO(response.content))

        return response_200

    if response.status_code == 206:
        response_206 = File(payload=BytesIO(response.content))

        return response_206

    if response.status_code == 401:
        response_401 = ApiError.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ApiError.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ApiError.from_dict(response.json())

        return response_404

    if response.status_code == 413:
        response_413 = ApiError.from_dict(response.json())

        return response_413

    if response.status_code == 416:
        response_416 = ApiError.from_dict(response.json())

        return response_416

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ApiError | File]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    range_: str | Unset = UNSET,
) -> Response[ApiError | File]:
    """Get a call's audio recording, when its provider delivered one.

     The audio the provider delivered, as stored by the gateway; 404 when there is none (with
    `details.pruned: true` when retention or an erasure removed it). One
    range of bytes may be asked for with `Range` (206, or 416 when no byte is in it); other
    ranges (several, other units) are ignored and the whole recording is sent. Any role.

    Args:
        id (str):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | File]
    """

    kwargs = _get_kwargs(
        id=id,
        range_=range_,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    range_: str | Unset = UNSET,
) -> ApiError | File | None:
    """Get a call's audio recording, when its provider delivered one.

     The audio the provider delivered, as stored by the gateway; 404 when there is none (with
    `details.pruned: true` when retention or an erasure removed it). One
    range of bytes may be asked for with `Range` (206, or 416 when no byte is in it); other
    ranges (several, other units) are ignored and the whole recording is sent. Any role.

    Args:
        id (str):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | File
    """

    return sync_detailed(
        id=id,
        client=client,
        range_=range_,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    range_: str | Unset = UNSET,
) -> Response[ApiError | File]:
    """Get a call's audio recording, when its provider delivered one.

     The audio the provider delivered, as stored by the gateway; 404 when there is none (with
    `details.pruned: true` when retention or an erasure removed it). One
    range of bytes may be asked for with `Range` (206, or 416 when no byte is in it); other
    ranges (several, other units) are ignored and the whole recording is sent. Any role.

    Args:
        id (str):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | File]
    """

    kwargs = _get_kwargs(
        id=id,
        range_=range_,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    range_: str | Unset = UNSET,
) -> ApiError | File | None:
    """Get a call's audio recording, when its provider delivered one.

     The audio the provider delivered, as stored by the gateway; 404 when there is none (with
    `details.pruned: true` when retention or an erasure removed it). One
    range of bytes may be asked for with `Range` (206, or 416 when no byte is in it); other
    ranges (several, other units) are ignored and the whole recording is sent. Any role.

    Args:
        id (str):
        range_ (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | File
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            range_=range_,
        )
    ).parsed
