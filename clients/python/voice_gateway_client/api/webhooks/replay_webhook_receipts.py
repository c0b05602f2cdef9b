from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.replay_range_request import ReplayRangeRequest
from ...models.replay_range_result import ReplayRangeResult
from ...types import Response


def _get_kwargs(
    *,
    body: ReplayRangeRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/webhook-receipts/replay",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiError | ReplayRangeResult | None:
    if response.status_code == 200:
        response_200 = ReplayRangeResult.from_dict(response.json())

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
) -> Response[ApiError | ReplayRangeResult]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: ReplayRangeRequest,
) -> Response[ApiError | ReplayRangeResult]:
    """Replay the stored webhooks of a provider instance received in a time range (admin).

     Replays, oldest first, every receipt `provider` received from `since` until `until` (now if omitted)
    with `outcome` if given, as one-receipt replays do (each a new receipt naming its original); replays
    themselves are not taken again. Refused receipts and those whose body is not (fully) stored are
    skipped and counted. Typical use: webhooks stored `unknown_call` because they arrived before their
    call existed, replayed once it does. At most `limit` (up to 1000) receipts per request: when more
    match, `next_cursor` is set; send the same request with it as `cursor` to go on. Admin only;
    audited.

    Args:
        body (ReplayRangeRequest): Which stored webhooks to replay. Example: {'outcome':
            'unknown_call', 'provider': 'vapi', 'since': '2026-12-20T09:00:00+00:00'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | ReplayRangeResult]
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
    body: ReplayRangeRequest,
) -> ApiError | ReplayRangeResult | None:
    """Replay the stored webhooks of a provider instance received in a time range (admin).

     Replays, oldest first, every receipt `provider` received from `since` until `until` (now if omitted)
    with `outcome` if given, as one-receipt replays do (each a new receipt naming its original); replays
    themselves are not taken again. Refused receipts and those whose body is not (fully) stored are
    skipped and counted. Typical use: webhooks stored `unknown_call` because they arrived before their
    call existed, replayed once it does. At most `limit` (up to 1000) receipts per request: when more
    match, `next_cursor` is set; send the same request with it as `cursor` to go on. Admin only;
    audited.

    Args:
        body (ReplayRangeRequest): Which stored webhooks to replay. Example: {'outcome':
            'unknown_call', 'provider': 'vapi', 'since': '2026-12-20T09:00:00+00:00'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | ReplayRangeResult
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: ReplayRangeRequest,
) -> Response[ApiError | ReplayRangeResult]:
    """Replay the stored webhooks of a provider instance received in a time range (admin).

     Replays, oldest first, every receipt `provider` received from `since` until `until` (now if omitted)
    with `outcome` if given, as one-receipt replays do (each a new receipt naming its original); replays
    themselves are not taken again. Refused receipts and those whose body is not (fully) stored are
    skipped and counted. Typical use: webhooks stored `unknown_call` because they arrived before their
    call existed, replayed once it does. At most `limit` (up to 1000) receipts per request: when more
    match, `next_cursor` is set; send the same request with it as `cursor` to go on. Admin only;
    audited.

    Args:
        body (ReplayRangeRequest): Which stored webhooks to replay. Example: {'outcome':
            'unknown_call', 'provider': 'vapi', 'since': '2026-12-20T09:00:00+00:00'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | ReplayRangeResult]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: ReplayRangeRequest,
) -> ApiError | ReplayRangeResult | None:
    """Replay the stored webhooks of a provider instance received in a time range (admin).

     Replays, oldest first, every receipt `provider` received from `since` until `until` (now if omitted)
    with `outcome` if given, as one-receipt replays do (each a new receipt naming its original); replays
    themselves are not taken again. Refused receipts and those whose body is not (fully) stored are
    skipped and counted. Typical use: webhooks stored `unknown_call` because they arrived before their
    call existed, replayed once it does. At most `limit` (up to 1000) receipts per request: when more
    match, `next_cursor` is set; send the same request with it as `cursor` to go on. Admin only;
    audited.

    Args:
        body (ReplayRangeRequest): Which stored webhooks to replay. Example: {'outcome':
            'unknown_call', 'provider': 'vapi', 'since': '2026-12-20T09:00:00+00:00'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | ReplayRangeResult
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
