"""Smoke test of the Python client against a running gateway (scripts/clients-smoke starts one).

Through the generated client only: log in, place an echo call with an idempotency key and replay it,
follow it to `completed`, read its transcript and events, page through the calls, get the typed error
of a bad number. Env: GATEWAY_URL, GATEWAY_USERNAME, GATEWAY_PASSWORD (an admin).
"""

import os
import time
import uuid

from voice_gateway_client import AuthenticatedClient, Client
from voice_gateway_client.api.auth import get_token
from voice_gateway_client.api.calls import create_call, get_call, get_call_events, get_call_transcript, list_calls
from voice_gateway_client.models import (
    ApiError,
    Call,
    CallPage,
    CallStatus,
    CreateCallRequest,
    TokenRequest,
    TokenResponse,
)
from voice_gateway_client.types import Unset

TIMEOUT_SECS = 30.0
TERMINAL = {CallStatus.COMPLETED, CallStatus.FAILED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.CANCELED}


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"smoke (python): {what}: FAILED")
    print(f"ok: {what}")


def main() -> None:
    base_url = os.environ["GATEWAY_URL"]

    # Log in with the password flow.
    with Client(base_url=base_url) as anonymous:
        tokens = get_token.sync_detailed(
            client=anonymous,
            body=TokenRequest(
                grant_type="password",
                username=os.environ["GATEWAY_USERNAME"],
                password=os.environ["GATEWAY_PASSWORD"],
            ),
        )
    check(isinstance(tokens.parsed, TokenResponse), f"logged in (HTTP {tokens.status_code})")
    assert isinstance(tokens.parsed, TokenResponse)

    with AuthenticatedClient(base_url=base_url, token=tokens.parsed.access_token) as client:
        # Place an echo call with an idempotency key, then replay the same request.
        key = str(uuid.uuid4())
        request = CreateCallRequest(to="+14155550123", provider="echo")
        created = create_call.sync_detailed(client=client, body=request, idempotency_key=key)
        check(isinstance(created.parsed, Call), f"call created (HTTP {created.status_code})")
        assert isinstance(created.parsed, Call)
        check(created.status_code == 201, "the first request answers 201")
        call = created.parsed
        replayed = create_call.sync_detailed(client=client, body=request, idempotency_key=key)
        check(isinstance(replayed.parsed, Call) and replayed.parsed.id == call.id, "the replay returns the same call")
        check(replayed.status_code == 200, "the replay answers 200")
        check(replayed.headers.get("Idempotent-Replayed") == "true", "the replay has Idempotent-Replayed: true")

        # Follow it until it is final.
        deadline = time.monotonic() + TIMEOUT_SECS
        current = call
        while current.status not in TERMINAL:
            if time.monotonic() >= deadline:
                raise SystemExit(f"smoke (python): the call is not final after {TIMEOUT_SECS} s ({current.status})")
            time.sleep(0.2)
            got = get_call.sync(client=client, id=str(call.id))
            if not isinstance(got, Call):
                raise SystemExit(f"smoke (python): GET /v1/calls/{call.id}: {got!r}")
            current = got
        check(current.status == CallStatus.COMPLETED, f"the call completed (status {current.status})")

        # Its transcript and its status history.
        transcript = get_call_transcript.sync(client=client, id=str(call.id))
        check(not isinstance(transcript, ApiError | None) and len(transcript.turns) > 0, "the transcript has turns")
        events = get_call_events.sync(client=client, id=str(call.id))
        check(
            not isinstance(events, ApiError | None)
            and any(e.to_status == CallStatus.COMPLETED and e.applied for e in events.events),
            "the events end in completed",
        )

        # A second call, then the list one call per page: the cursor leads from the newest to the older one.
        second = create_call.sync(client=client, body=CreateCallRequest(to="+14155550124", provider="echo"))
        check(isinstance(second, Call), "a second call created")
        assert isinstance(second, Call)
        first = list_calls.sync(client=client, limit=1)
        check(isinstance(first, CallPage) and [c.id for c in first.items] == [second.id], "page 1 is the newest call")
        assert isinstance(first, CallPage)
        check(not isinstance(first.next_cursor, Unset), "page 1 has a next_cursor")
        following = list_calls.sync(client=client, limit=1, cursor=first.next_cursor)
        check(
            isinstance(following, CallPage) and [c.id for c in following.items] == [call.id], "page 2 is the older call"
        )

        # A bad number: the typed error.
        bad = create_call.sync_detailed(client=client, body=CreateCallRequest(to="12345", provider="echo"))
        check(bad.status_code == 422, "a bad number answers 422")
        check(isinstance(bad.parsed, ApiError), "the answer is an ApiError")
        assert isinstance(bad.parsed, ApiError)
        check(bad.parsed.error.code == "validation_failed", "the error's code is validation_failed")
        check(bad.parsed.request_id == bad.headers.get("X-Request-Id"), "the error names the request id")

    print("smoke (python): passed")


if __name__ == "__main__":
    main()
