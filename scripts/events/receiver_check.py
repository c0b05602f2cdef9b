"""An application receiver, verified with the official Standard Webhooks library, against a running gateway.

scripts/events-receiver-check starts the gateway (with `[events] allow_private_destinations = true`) and runs
this with GATEWAY_URL, GATEWAY_USERNAME and GATEWAY_PASSWORD (an admin). Standard library only, besides
`standardwebhooks`: the receiver is an http.server on a free 127.0.0.1 port that verifies every delivery with
`standardwebhooks.Webhook` (400 to anything no known secret verifies) and records it; the API is called with
urllib. Checks:
  1. echo call: every event type of an echo call arrives (call.created, call.status_changed several times,
     call.transcript.turn, call.ended), verified, in per-call `sequence` order;
  2. ping: `POST /v1/event-endpoints/{id}/test` delivers a verified `ping`;
  3. forged: the receiver refuses (400) a delivery signed with another secret and a real one with its body changed;
  4. rotation: after `rotate-secret`, a ping and a second call's events carry two signatures, and each verifies
     with the new secret and with the old one (the overlap).
Prints one line per check and `events-receiver-check: N passed, M failed`; exit status 0 if all passed, else 1.
"""

import base64
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

TIMEOUT_SECS = 30.0
TO = "+14155550123"


class CheckFailed(Exception):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    event: Any
    # The names of the receiver's secrets (`current`, `previous`) that verify this delivery.
    verified_by: set[str] = field(default_factory=set)


class Receiver:
    """Records every delivery that one of its secrets verifies; answers 400 to the others."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.secrets: dict[str, str] = {}
        self.deliveries: list[Delivery] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k: v for k, v in self.headers.items()}
                status = receiver.receive(self.path, headers, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> int:
        if path != "/hooks":
            return 404
        with self.lock:
            known = dict(self.secrets)
        delivery = Delivery(headers={k.lower(): v for k, v in headers.items()}, body=body, event=None)
        for name, secret in known.items():
            try:
                delivery.event = Webhook(secret).verify(body, headers)
                delivery.verified_by.add(name)
            except WebhookVerificationError:
                pass
        with self.lock:
            if not delivery.verified_by:
                self.refused += 1
                return 400
            self.deliveries.append(delivery)
        return 204

    def use(self, **named: str) -> None:
        with self.lock:
            self.secrets = dict(named)

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries)

    def wait_for(self, what: str, found: Callable[[list[Delivery]], bool]) -> list[Delivery]:
        deadline = time.monotonic() + TIMEOUT_SECS
        while True:
            got = self.received()
            if found(got):
                return got
            if time.monotonic() > deadline:
                raise CheckFailed(f"timed out waiting for {what}; got {[d.event['type'] for d in got]}")
            time.sleep(0.05)

    def post(self, headers: dict[str, str], body: bytes) -> int:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


class Api:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token = ""

    def call(self, method: str, path: str, body: Any = None, form: dict[str, str] | None = None) -> tuple[int, Any]:
        headers = {"accept": "application/json"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                status, raw = int(answer.status), answer.read()
        except urllib.error.HTTPError as error:
            status, raw = int(error.code), error.read()
        return status, json.loads(raw) if raw else None

    def expect(self, status: int, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        got, answer = self.call(method, path, body, **kwargs)
        expect(got == status, f"{method} {path} answered {got}, not {status}: {answer}")
        return answer


def call_events(deliveries: list[Delivery], call_id: str) -> list[Delivery]:
    """The call's deliveries in arrival order, each event once (delivery is at least once)."""
    seen: set[str] = set()
    events = []
    for delivery in deliveries:
        event_id = delivery.headers["webhook-id"]
        if delivery.event.get("call_id") == call_id and event_id not in seen:
            seen.add(event_id)
            events.append(delivery)
    return events


def echo_call(api: Api, receiver: Receiver) -> list[Delivery]:
    """Places an echo call, waits for `completed` and for its `call.ended`; checks the events and their order."""
    call = api.expect(201, "POST", "/v1/calls", {"to": TO, "provider": "echo"})
    call_id = call["id"]
    deadline = time.monotonic() + TIMEOUT_SECS
    while call["status"] != "completed":
        expect(call["status"] in ("queued", "initiating", "ringing", "in_progress"), f"call ended {call['status']}")
        expect(time.monotonic() < deadline, f"the call is still {call['status']}")
        time.sleep(0.1)
        call = api.expect(200, "GET", f"/v1/calls/{call_id}")
    received = receiver.wait_for(
        f"call.ended of {call_id}",
        lambda got: any(d.event["type"] == "call.ended" for d in call_events(got, call_id)),
    )
    events = call_events(received, call_id)
    kinds = [d.event["type"] for d in events]
    for delivery in events:
        event = delivery.event
        expect(delivery.headers["webhook-id"] == event["id"], "webhook-id is the event id")
        expect(event["id"].startswith("evt_"), f"event id {event['id']}")
        expect(delivery.headers.get("content-type") == "application/json", "content-type application/json")
        expect(delivery.headers.get("user-agent", "").startswith("voice-gateway/"), "user-agent voice-gateway/")
    expect(kinds[0] == "call.created", f"the first event is call.created: {kinds}")
    expect(kinds[-1] == "call.ended", f"the last event is call.ended: {kinds}")
    expect(kinds.count("call.status_changed") >= 3, f"several call.status_changed: {kinds}")
    expect("call.transcript.turn" in kinds, f"a call.transcript.turn: {kinds}")
    sequences = [d.event["sequence"] for d in events]
    expect(sequences == list(range(1, len(events) + 1)), f"per-call sequence order: {sequences}")
    changes = [(d.event["data"]["from"], d.event["data"]["to"]) for d in events if d.event["type"] == "call.status_changed"]
    expect(changes[0] == ("queued", "initiating"), f"the first change is queued -> initiating: {changes}")
    expect(changes[-1][1] == "completed", f"the last change is to completed: {changes}")
    ended = events[-1].event["data"]["call"]
    expect(ended["id"] == call_id and ended["status"] == "completed", "call.ended carries the completed call")
    logged = api.expect(200, "GET", "/v1/events?" + urllib.parse.urlencode({"call_id": call_id}))
    expect(len(logged["items"]) == len(events), f"the log has {len(logged['items'])} events, received {len(events)}")
    return events


def ping(api: Api, receiver: Receiver, endpoint_id: str) -> Delivery:
    before = len(receiver.received())
    result = api.expect(200, "POST", f"/v1/event-endpoints/{endpoint_id}/test", {})
    expect(result["succeeded"] is True, f"the test delivery succeeded: {result}")
    expect(result["attempt"]["status_code"] == 204, f"the receiver answered 204: {result}")
    pings = [d for d in receiver.received()[before:] if d.event["type"] == "ping"]
    expect(len(pings) == 1, "the receiver got one ping")
    expect(pings[0].event["id"] == result["event_id"], "the ping is the test's event")
    return pings[0]


def main() -> None:
    api = Api(os.environ["GATEWAY_URL"])
    token = api.expect(
        200,
        "POST",
        "/v1/auth/token",
        form={
            "grant_type": "password",
            "username": os.environ["GATEWAY_USERNAME"],
            "password": os.environ["GATEWAY_PASSWORD"],
        },
    )
    api.token = token["access_token"]
    receiver = Receiver()
    endpoint = api.expect(201, "POST", "/v1/event-endpoints", {"url": receiver.url, "description": "receiver check"})
    endpoint_id, secret = endpoint["id"], endpoint["secret"]
    receiver.use(current=secret)
    state: dict[str, Any] = {}

    def check_echo_call() -> None:
        events = echo_call(api, receiver)
        expect(all(d.verified_by == {"current"} for d in events), "every delivery verified by the library")
        state["delivery"] = events[-1]

    def check_ping() -> None:
        delivery = ping(api, receiver, endpoint_id)
        expect(delivery.verified_by == {"current"}, "the ping verified by the library")
        expect(delivery.event.get("call_id") is None, "the ping belongs to no call")

    def check_forged() -> None:
        refused = receiver.refused
        timestamp = datetime.now(tz=timezone.utc)
        body = json.dumps({"id": "evt_forged", "type": "ping", "sequence": 0, "data": {}}).encode()
        other = Webhook("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())
        forged = {
            "content-type": "application/json",
            "webhook-id": "evt_forged",
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": other.sign("evt_forged", timestamp, body.decode()),
        }
        expect(receiver.post(forged, body) == 400, "a delivery signed with another secret is refused with 400")
        real = state.get("delivery")
        expect(real is not None, "a real delivery to tamper with")
        changed = real.body.replace(b'"completed"', b'"failed"')
        expect(changed != real.body, "the body was changed")
        signed = {k: v for k, v in real.headers.items() if k.startswith("webhook-") or k == "content-type"}
        expect(receiver.post(signed, changed) == 400, "a real delivery with its body changed is refused")
        expect(receiver.refused == refused + 2, "the receiver counted both refusals")

    def check_rotation() -> None:
        rotated = api.expect(200, "POST", f"/v1/event-endpoints/{endpoint_id}/rotate-secret", {})
        new = rotated["secret"]
        expect(new.startswith("whsec_") and new != secret, "a new whsec_ secret")
        expect(isinstance(rotated.get("previous_secret_expires_at"), str), "the old secret's expiry is given")
        receiver.use(current=new, previous=secret)
        deliveries = [ping(api, receiver, endpoint_id)] + echo_call(api, receiver)
        for delivery in deliveries:
            signatures = delivery.headers["webhook-signature"].split(" ")
            expect(len(signatures) == 2, f"two signatures during the overlap: {signatures}")
            expect(delivery.verified_by == {"current", "previous"}, f"verified with both secrets: {delivery.event['type']}")
        # Only the new secret: still verified.
        receiver.use(current=new)
        expect(ping(api, receiver, endpoint_id).verified_by == {"current"}, "verified with the new secret alone")

    passed = failed = 0
    for name, check in [
        ("an echo call's events, verified and in order", check_echo_call),
        ("a ping from the test route, verified", check_ping),
        ("forged deliveries refused with 400", check_forged),
        ("after rotate-secret, both secrets verify", check_rotation),
    ]:
        try:
            check()
            passed += 1
            print(f"ok: {name}")
        except (CheckFailed, KeyError, TypeError, OSError) as error:
            failed += 1
            print(f"FAILED: {name}: {error!r}")
    receiver.server.shutdown()
    print(f"events-receiver-check: {passed} passed, {failed} failed")
    raise SystemExit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
