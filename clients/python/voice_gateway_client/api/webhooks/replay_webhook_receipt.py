from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.replay_options import ReplayOptions
from ...models.webhook_receipt import WebhookReceipt
from ...types import UNSET, Response, Unset


def _get_kwargs(
    id: str,
    *,
    body: ReplayOptions | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/webhook-receipts/{id}/replay".format(
            id=quote(str(id), safe=""),
        ),
    }

    if not isinstance(body, Unset):
        _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiError | WebhookReceipt | None:
    if response.status_code == 200:
        response_200 = WebhookReceipt.from_dict(response.json())

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
) -> Response[ApiError | WebhookReceipt]:
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
    body: ReplayOptions | Unset = UNSET,
) -> Response[ApiError | WebhookReceipt]:
    """Replay one stored webhook (admin).

     Runs the receipt's stored body, headers and topic through parse and apply again, with the provider
    code running now; its signature is not checked again (it was when it arrived), so refused receipts
    cannot be replayed (409, with the reason). The replay is a new receipt with its own outcome and
    `replay_of` naming the original, which is not changed; the answer is that receipt, as `GET
    /v1/webhook-receipts/{id}` shows it. Dedupe holds: a delivery already applied to its call gives a
    `duplicate`, unless `force` applies its events again. Admin only; audited.

    Args:
        id (str):
        body (ReplayOptions | Unset): How to replay one receipt; the body may be omitted. Example:
            {'force': False}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | WebhookReceipt]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
    body: ReplayOptions | Unset = UNSET,
) -> ApiError | WebhookReceipt | None:
    """Replay one stored webhook (admin).

     Runs the receipt's stored body, headers and topic through parse and apply again, with the provider
    code running now; its signature is not checked again (it was when it arrived), so refused receipts
    cannot be replayed (409, with the reason). The replay is a new receipt with its own outcome and
    `replay_of` naming the original, which is not changed; the answer is that receipt, as `GET
    /v1/webhook-receipts/{id}` shows it. Dedupe holds: a delivery already applied to its call gives a
    `duplicate`, unless `force` applies its events again. Admin only; audited.

    Args:
        id (str):
        body (ReplayOptions | Unset): How to replay one receipt; the body may be omitted. Example:
            {'force': False}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | WebhookReceipt
    """

    return sync_detailed(
        id=id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
    body: ReplayOptions | Unset = UNSET,
) -> Response[ApiError | WebhookReceipt]:
    """Replay one stored webhook (admin).

     Runs the receipt's stored body, headers and topic through parse and apply again, with the provider
    code running now; its signature is not checked again (it was when it arrived), so refused receipts
    cannot be replayed (409, with the reason). The replay is a new receipt with its own outcome and
    `replay_of` naming the original, which is not changed; the answer is that receipt, as `GET
    /v1/webhook-receipts/{id}` shows it. Dedupe holds: a delivery already applied to its call gives a
    `duplicate`, unless `force` applies its events again. Admin only; audited.

    Args:
        id (str):
        body (ReplayOptions | Unset): How to replay one receipt; the body may be omitted. Example:
            {'force': False}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | WebhookReceipt]
    """

    kwargs = _get_kwargs(
        id=id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
    body: ReplayOptions | Unset = UNSET,
) -> ApiError | WebhookReceipt | None:
    """Replay one stored webhook (admin).

     Runs the receipt's stored body, headers and topic through parse and apply again, with the provider
    code running now; its signature is not checked again (it was when it arrived), so refused receipts
    cannot be replayed (409, with the reason). The replay is a new receipt with its own outcome and
    `replay_of` naming the original, which is not changed; the answer is that receipt, as `GET
    /v1/webhook-receipts/{id}` shows it. Dedupe holds: a delivery already applied to its call gives a
    `duplicate`, unless `force` applies its events again. Admin only; audited.

    Args:
        id (str):
        body (ReplayOptions | Unset): How to replay one receipt; the body may be omitted. Example:
            {'force': False}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | WebhookReceipt
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
            body=body,
        )
    ).parsed
