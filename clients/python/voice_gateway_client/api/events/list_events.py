from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.event_page import EventPage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    call_id: str | Unset = UNSET,
    type_: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["call_id"] = call_id

    params["type"] = type_

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/events",
        "params": params,
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiError | EventPage | None:
    if response.status_code == 200:
        response_200 = EventPage.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ApiError.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ApiError.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ApiError.from_dict(response.json())

        return response_403

    if response.status_code == 413:
        response_413 = ApiError.from_dict(response.json())

        return response_413

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
) -> Response[ApiError | EventPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    call_id: str | Unset = UNSET,
    type_: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ApiError | EventPage]:
    """The event log, newest first (viewer).

     Every event sent to applications, kept `[events] retention_days`. Each is the envelope `{id, type,
    created_at, call_id, sequence, data}`; `data` is one of `CallCreatedData`, `CallStatusChangedData`,
    `CallTranscriptTurnData`, `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData`
    or `PingData` (see the schemas). Viewers may read it.

    Args:
        call_id (str | Unset):
        type_ (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | EventPage]
    """

    kwargs = _get_kwargs(
        call_id=call_id,
        type_=type_,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    call_id: str | Unset = UNSET,
    type_: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ApiError | EventPage | None:
    """The event log, newest first (viewer).

     Every event sent to applications, kept `[events] retention_days`. Each is the envelope `{id, type,
    created_at, call_id, sequence, data}`; `data` is one of `CallCreatedData`, `CallStatusChangedData`,
    `CallTranscriptTurnData`, `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData`
    or `PingData` (see the schemas). Viewers may read it.

    Args:
        call_id (str | Unset):
        type_ (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | EventPage
    """

    return sync_detailed(
        client=client,
        call_id=call_id,
        type_=type_,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    call_id: str | Unset = UNSET,
    type_: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ApiError | EventPage]:
    """The event log, newest first (viewer).

     Every event sent to applications, kept `[events] retention_days`. Each is the envelope `{id, type,
    created_at, call_id, sequence, data}`; `data` is one of `CallCreatedData`, `CallStatusChangedData`,
    `CallTranscriptTurnData`, `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData`
    or `PingData` (see the schemas). Viewers may read it.

    Args:
        call_id (str | Unset):
        type_ (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | EventPage]
    """

    kwargs = _get_kwargs(
        call_id=call_id,
        type_=type_,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    call_id: str | Unset = UNSET,
    type_: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ApiError | EventPage | None:
    """The event log, newest first (viewer).

     Every event sent to applications, kept `[events] retention_days`. Each is the envelope `{id, type,
    created_at, call_id, sequence, data}`; `data` is one of `CallCreatedData`, `CallStatusChangedData`,
    `CallTranscriptTurnData`, `CallTranscriptFinalizedData`, `CallEndedData`, `CallRecordingReadyData`
    or `PingData` (see the schemas). Viewers may read it.

    Args:
        call_id (str | Unset):
        type_ (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | EventPage
    """

    return (
        await asyncio_detailed(
            client=client,
            call_id=call_id,
            type_=type_,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
