from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.api_error import ApiError
from ...models.receive_topic_webhook_json_body import ReceiveTopicWebhookJsonBody
from ...models.webhook_ack import WebhookAck
from ...types import UNSET, File, Response, Unset


def _get_kwargs(
    provider: str,
    topic: str,
    *,
    body: ReceiveTopicWebhookJsonBody | File | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/webhooks/{provider}/{topic}".format(
            provider=quote(str(provider), safe=""),
            topic=quote(str(topic), safe=""),
        ),
    }

    if isinstance(body, ReceiveTopicWebhookJsonBody):
        if not isinstance(body, Unset):
            _kwargs["json"] = body.to_dict()

        headers["Content-Type"] = "application/json"
    if isinstance(body, File):
        if not isinstance(body, Unset):
            _kwargs["content"] = body.payload
        headers["Content-Type"] = "application/octet-stream"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(*, client: AuthenticatedClient | Client, response: httpx.Response) -> ApiError | WebhookAck | None:
    if response.status_code == 200:
        response_200 = WebhookAck.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ApiError.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ApiError.from_dict(response.json())

        return response_401

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


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ApiError | WebhookAck]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    provider: str,
    topic: str,
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveTopicWebhookJsonBody | File | Unset = UNSET,
) -> Response[ApiError | WebhookAck]:
    """Receive a vendor's webhook for a topic.

     The vendor's raw body is verified with the provider's signature scheme, stored as a receipt and
    normalized into the call it concerns, all before the answer is sent. The body is read up to the
    provider's limit (413 beyond); its shape is the vendor's, so any content type is taken as it is. A
    duplicate (same vendor event id, or the same body) is answered 200 and applied zero times.

    Args:
        provider (str):
        topic (str):
        body (ReceiveTopicWebhookJsonBody | Unset):
        body (File | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | WebhookAck]
    """

    kwargs = _get_kwargs(
        provider=provider,
        topic=topic,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    provider: str,
    topic: str,
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveTopicWebhookJsonBody | File | Unset = UNSET,
) -> ApiError | WebhookAck | None:
    """Receive a vendor's webhook for a topic.

     The vendor's raw body is verified with the provider's signature scheme, stored as a receipt and
    normalized into the call it concerns, all before the answer is sent. The body is read up to the
    provider's limit (413 beyond); its shape is the vendor's, so any content type is taken as it is. A
    duplicate (same vendor event id, or the same body) is answered 200 and applied zero times.

    Args:
        provider (str):
        topic (str):
        body (ReceiveTopicWebhookJsonBody | Unset):
        body (File | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | WebhookAck
    """

    return sync_detailed(
        provider=provider,
        topic=topic,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    provider: str,
    topic: str,
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveTopicWebhookJsonBody | File | Unset = UNSET,
) -> Response[ApiError | WebhookAck]:
    """Receive a vendor's webhook for a topic.

     The vendor's raw body is verified with the provider's signature scheme, stored as a receipt and
    normalized into the call it concerns, all before the answer is sent. The body is read up to the
    provider's limit (413 beyond); its shape is the vendor's, so any content type is taken as it is. A
    duplicate (same vendor event id, or the same body) is answered 200 and applied zero times.

    Args:
        provider (str):
        topic (str):
        body (ReceiveTopicWebhookJsonBody | Unset):
        body (File | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ApiError | WebhookAck]
    """

    kwargs = _get_kwargs(
        provider=provider,
        topic=topic,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    provider: str,
    topic: str,
    *,
    client: AuthenticatedClient | Client,
    body: ReceiveTopicWebhookJsonBody | File | Unset = UNSET,
) -> ApiError | WebhookAck | None:
    """Receive a vendor's webhook for a topic.

     The vendor's raw body is verified with the provider's signature scheme, stored as a receipt and
    normalized into the call it concerns, all before the answer is sent. The body is read up to the
    provider's limit (413 beyond); its shape is the vendor's, so any content type is taken as it is. A
    duplicate (same vendor event id, or the same body) is answered 200 and applied zero times.

    Args:
        provider (str):
        topic (str):
        body (ReceiveTopicWebhookJsonBody | Unset):
        body (File | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ApiError | WebhookAck
    """

    return (
        await asyncio_detailed(
            provider=provider,
            topic=topic,
            client=client,
            body=body,
        )
    ).parsed
