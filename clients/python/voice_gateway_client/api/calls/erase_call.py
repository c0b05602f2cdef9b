from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.call import Call
from ...types import Response


def _get_kwargs(
    id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "delete",
        "url": "/v1/calls/{id}".format(
            id=quote(str(id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiError | Call | None:
    if response.status_code == 200:
        response_200 = Call.from_dict(response.json())

        return response_200

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


def _build_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> Response[ApiError | Call]:
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
) -> Response[ApiError | Call]:
    """Erase a call's personal data, leaving a tombstone.

     Removes the transcript, the recording (file and reference), variables, metadata, first
    message, summary, analysis, vendor metadata, the raw bodies of its webhook receipts
    (they show `body_pruned`) and its events to applications (with their pending
    deliveries), and masks the number (country code and last two digits). Kept, so counts
    and billing stay true: id, provider, status and history, times, duration, cost. A call
    erased before answers 200 with the same tombstone and nothing changes. Admin only;
    audited as `call.erase`.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | Call]
    """

    kwargs = _get_kwargs(
        id=id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    id: str,
    *,
    client: AuthenticatedClient,
) -> ApiError | Call | None:
    """Erase a call's personal data, leaving a tombstone.

     Removes the transcript, the recording (file and reference), variables, metadata, first
    message, summary, analysis, vendor metadata, the raw bodies of its webhook receipts
    (they show `body_pruned`) and its events to applications (with their pending
    deliveries), and masks the number (country code and last two digits). Kept, so counts
    and billing stay true: id, provider, status and history, times, duration, cost. A call
    erased before answers 200 with the same tombstone and nothing changes. Admin only;
    audited as `call.erase`.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | Call
    """

    return sync_detailed(
        id=id,
        client=client,
    ).parsed


async def asyncio_detailed(
    id: str,
    *,
    client: AuthenticatedClient,
) -> Response[ApiError | Call]:
    """Erase a call's personal data, leaving a tombstone.

     Removes the transcript, the recording (file and reference), variables, metadata, first
    message, summary, analysis, vendor metadata, the raw bodies of its webhook receipts
    (they show `body_pruned`) and its events to applications (with their pending
    deliveries), and masks the number (country code and last two digits). Kept, so counts
    and billing stay true: id, provider, status and history, times, duration, cost. A call
    erased before answers 200 with the same tombstone and nothing changes. Admin only;
    audited as `call.erase`.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | Call]
    """

    kwargs = _get_kwargs(
        id=id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    id: str,
    *,
    client: AuthenticatedClient,
) -> ApiError | Call | None:
    """Erase a call's personal data, leaving a tombstone.

     Removes the transcript, the recording (file and reference), variables, metadata, first
    message, summary, analysis, vendor metadata, the raw bodies of its webhook receipts
    (they show `body_pruned`) and its events to applications (with their pending
    deliveries), and masks the number (country code and last two digits). Kept, so counts
    and billing stay true: id, provider, status and history, times, duration, cost. A call
    erased before answers 200 with the same tombstone and nothing changes. Admin only;
    audited as `call.erase`.

    Args:
        id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | Call
    """

    return (
        await asyncio_detailed(
            id=id,
            client=client,
        )
    ).parsed
