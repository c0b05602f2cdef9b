from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.webhook_receipt_page import WebhookReceiptPage
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    provider: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    call_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["provider"] = provider

    params["outcome"] = outcome

    params["call_id"] = call_id

    params["limit"] = limit

    params["cursor"] = cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/webhook-receipts",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiError | WebhookReceiptPage | None:
    if response.status_code == 200:
        response_200 = WebhookReceiptPage.from_dict(response.json())

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
) -> Response[ApiError | WebhookReceiptPage]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    provider: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    call_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ApiError | WebhookReceiptPage]:
    """List webhook receipts, newest first (raw bodies omitted; get one receipt for its body).

     Filters combine; `next_cursor` is omitted on the last page. Admin only.

    Args:
        provider (str | Unset):
        outcome (str | Unset):
        call_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | WebhookReceiptPage]
    """

    kwargs = _get_kwargs(
        provider=provider,
        outcome=outcome,
        call_id=call_id,
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
    provider: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    call_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ApiError | WebhookReceiptPage | None:
    """List webhook receipts, newest first (raw bodies omitted; get one receipt for its body).

     Filters combine; `next_cursor` is omitted on the last page. Admin only.

    Args:
        provider (str | Unset):
        outcome (str | Unset):
        call_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | WebhookReceiptPage
    """

    return sync_detailed(
        client=client,
        provider=provider,
        outcome=outcome,
        call_id=call_id,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    provider: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    call_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> Response[ApiError | WebhookReceiptPage]:
    """List webhook receipts, newest first (raw bodies omitted; get one receipt for its body).

     Filters combine; `next_cursor` is omitted on the last page. Admin only.

    Args:
        provider (str | Unset):
        outcome (str | Unset):
        call_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | WebhookReceiptPage]
    """

    kwargs = _get_kwargs(
        provider=provider,
        outcome=outcome,
        call_id=call_id,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    provider: str | Unset = UNSET,
    outcome: str | Unset = UNSET,
    call_id: str | Unset = UNSET,
    limit: int | Unset = UNSET,
    cursor: str | Unset = UNSET,
) -> ApiError | WebhookReceiptPage | None:
    """List webhook receipts, newest first (raw bodies omitted; get one receipt for its body).

     Filters combine; `next_cursor` is omitted on the last page. Admin only.

    Args:
        provider (str | Unset):
        outcome (str | Unset):
        call_id (str | Unset):
        limit (int | Unset):
        cursor (str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | WebhookReceiptPage
    """

    return (
        await asyncio_detailed(
            client=client,
            provider=provider,
            outcome=outcome,
            call_id=call_id,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
