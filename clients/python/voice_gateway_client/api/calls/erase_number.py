from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.erasure_request import ErasureRequest
from ...models.erasure_result import ErasureResult
from ...types import Response


def _get_kwargs(
    *,
    body: ErasureRequest,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/erasure",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json; charset=utf-8"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ApiError | ErasureResult | None:
    if response.status_code == 200:
        response_200 = ErasureResult.from_dict(response.json())

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
) -> Response[ApiError | ErasureResult]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: ErasureRequest,
) -> Response[ApiError | ErasureResult]:
    """Erase the personal data of every call to a number.

     Each call to `phone_number` is erased as `DELETE /v1/calls/{id}` does, leaving its
    tombstone; answers how many calls this request erased (0 when there were none, or all
    were erased before). Idempotent. Admin only; audited as `erasure.request` with the
    count (the number itself is not written to the audit log, only its masked form).

    Args:
        body (ErasureRequest): Whose calls to erase. Example: {'phone_number': '+14155550123'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | ErasureResult]
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
    body: ErasureRequest,
) -> ApiError | ErasureResult | None:
    """Erase the personal data of every call to a number.

     Each call to `phone_number` is erased as `DELETE /v1/calls/{id}` does, leaving its
    tombstone; answers how many calls this request erased (0 when there were none, or all
    were erased before). Idempotent. Admin only; audited as `erasure.request` with the
    count (the number itself is not written to the audit log, only its masked form).

    Args:
        body (ErasureRequest): Whose calls to erase. Example: {'phone_number': '+14155550123'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | ErasureResult
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: ErasureRequest,
) -> Response[ApiError | ErasureResult]:
    """Erase the personal data of every call to a number.

     Each call to `phone_number` is erased as `DELETE /v1/calls/{id}` does, leaving its
    tombstone; answers how many calls this request erased (0 when there were none, or all
    were erased before). Idempotent. Admin only; audited as `erasure.request` with the
    count (the number itself is not written to the audit log, only its masked form).

    Args:
        body (ErasureRequest): Whose calls to erase. Example: {'phone_number': '+14155550123'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | ErasureResult]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: ErasureRequest,
) -> ApiError | ErasureResult | None:
    """Erase the personal data of every call to a number.

     Each call to `phone_number` is erased as `DELETE /v1/calls/{id}` does, leaving its
    tombstone; answers how many calls this request erased (0 when there were none, or all
    were erased before). Idempotent. Admin only; audited as `erasure.request` with the
    count (the number itself is not written to the audit log, only its masked form).

    Args:
        body (ErasureRequest): Whose calls to erase. Example: {'phone_number': '+14155550123'}.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | ErasureResult
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
