from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.call import Call
from ...models.create_call_request import CreateCallRequest
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    body: CreateCallRequest,
    idempotency_key: str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(idempotency_key, Unset):
        headers["Idempotency-Key"] = idempotency_key

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/calls",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiError | Call | None:
    if response.status_code == 200:
        response_200 = Call.from_dict(response.json())

        return response_200

    if response.status_code == 201:
        response_201 = Call.from_dict(response.json())

        return response_201

    if response.status_code == 202:
        response_202 = Call.from_dict(response.json())

        return response_202

    if response.status_code == 400:
        response_400 = ApiError.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ApiError.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ApiError.from_dict(response.json())

        return response_403

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

    if response.status_code == 502:
        response_502 = ApiError.from_dict(response.json())

        return response_502

    if response.status_code == 503:
        response_503 = ApiError.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ApiError | Call]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateCallRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ApiError | Call]:
    """Place an outbound call.

     The call is stored (`queued`) before the provider is asked, then updated with the
    vendor's ids, or marked `failed` with the vendor's error (502, with the call's id).
    Send an `Idempotency-Key` to make retries safe: the same key and body return the original
    call (200, `Idempotent-Replayed: true`); the same key with another body is 422; while the
    first request is still in flight, 409. Keys are kept 24 hours (`[retention] idempotency_hours`).
    A first request that died mid-flight is taken over by a retry with the same key and body
    after `gateway.idempotency_claim_timeout_secs`, which settles the stored call without
    placing it twice.

    Args:
        idempotency_key (str | Unset):
        body (CreateCallRequest): A request to place an outbound call. Example: {'provider':
            'echo', 'to': '+14155550123', 'variables': {'customer_name': 'Ada'}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | Call]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: CreateCallRequest,
    idempotency_key: str | Unset = UNSET,
) -> ApiError | Call | None:
    """Place an outbound call.

     The call is stored (`queued`) before the provider is asked, then updated with the
    vendor's ids, or marked `failed` with the vendor's error (502, with the call's id).
    Send an `Idempotency-Key` to make retries safe: the same key and body return the original
    call (200, `Idempotent-Replayed: true`); the same key with another body is 422; while the
    first request is still in flight, 409. Keys are kept 24 hours (`[retention] idempotency_hours`).
    A first request that died mid-flight is taken over by a retry with the same key and body
    after `gateway.idempotency_claim_timeout_secs`, which settles the stored call without
    placing it twice.

    Args:
        idempotency_key (str | Unset):
        body (CreateCallRequest): A request to place an outbound call. Example: {'provider':
            'echo', 'to': '+14155550123', 'variables': {'customer_name': 'Ada'}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | Call
    """

    return sync_detailed(
        client=client,
        body=body,
        idempotency_key=idempotency_key,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: CreateCallRequest,
    idempotency_key: str | Unset = UNSET,
) -> Response[ApiError | Call]:
    """Place an outbound call.

     The call is stored (`queued`) before the provider is asked, then updated with the
    vendor's ids, or marked `failed` with the vendor's error (502, with the call's id).
    Send an `Idempotency-Key` to make retries safe: the same key and body return the original
    call (200, `Idempotent-Replayed: true`); the same key with another body is 422; while the
    first request is still in flight, 409. Keys are kept 24 hours (`[retention] idempotency_hours`).
    A first request that died mid-flight is taken over by a retry with the same key and body
    after `gateway.idempotency_claim_timeout_secs`, which settles the stored call without
    placing it twice.

    Args:
        idempotency_key (str | Unset):
        body (CreateCallRequest): A request to place an outbound call. Example: {'provider':
            'echo', 'to': '+14155550123', 'variables': {'customer_name': 'Ada'}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | Call]
    """

    kwargs = _get_kwargs(
        body=body,
        idempotency_key=idempotency_key,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: CreateCallRequest,
    idempotency_key: str | Unset = UNSET,
) -> ApiError | Call | None:
    """Place an outbound call.

     The call is stored (`queued`) before the provider is asked, then updated with the
    vendor's ids, or marked `failed` with the vendor's error (502, with the call's id).
    Send an `Idempotency-Key` to make retries safe: the same key and body return the original
    call (200, `Idempotent-Replayed: true`); the same key with another body is 422; while the
    first request is still in flight, 409. Keys are kept 24 hours (`[retention] idempotency_hours`).
    A first request that died mid-flight is taken over by a retry with the same key and body
    after `gateway.idempotency_claim_timeout_secs`, which settles the stored call without
    placing it twice.

    Args:
        idempotency_key (str | Unset):
        body (CreateCallRequest): A request to place an outbound call. Example: {'provider':
            'echo', 'to': '+14155550123', 'variables': {'customer_name': 'Ada'}}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | Call
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
            idempotency_key=idempotency_key,
        )
    ).parsed
