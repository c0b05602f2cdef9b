#!/usr/bin/env python3
"""Validate the vendor fixtures the provider tests use against the vendors' official Python SDK models.

Run through `scripts/validate-fixtures`, which builds a throwaway virtualenv with the pinned SDKs
(elevenlabs==2.78.0, vapi-server-sdk==3.0.0, retell-sdk==6.2.13, pydantic 2) and calls this file. Run directly only
inside such an environment: `python scripts/validate_fixtures.py [REPO_ROOT]`.

What is checked
---------------
Every `providers/<provider>/tests/fixtures/**/*.json` is matched, by file name, against the rule table
of its provider (first matching rule wins). A rule either validates the fixture (or the part of it
that the SDK models: the `data` of an ElevenLabs webhook, the `message` of a VAPI `{"message": ...}`
envelope) with pydantic (`Model.model_validate`, the SDKs are on pydantic 2), or skips it with a
written reason because the SDK has no model for it. A fixture that matches no rule FAILS, and so does
a fixture of a provider that has no rule table: new fixtures cannot be forgotten.

The SDK models are lenient: they allow undeclared keys (`extra="allow"`), their enums are
`Union[Literal[...], Any]`, and they accept Python field names in place of the wire names. So after
pydantic has accepted a fixture, a strict pass walks it beside the validated model and FAILS on:
  - a key given by its Python field name where the wire name differs (`call_sid` for `callSid`);
  - a key the SDK model does not declare (a typo, or a field the vendor does not send);
  - an enum value outside the SDK's known values (e.g. `call_result: "no-answer"` for `no_answer`);
unless the fixture lists the finding in LENIENT with the reason (deliberate edge cases).

Fixtures that deliberately or knowingly disagree with the SDK are listed in EXPECTED_FAILURES with
the reason and the exact JSON paths pydantic rejects. Such a fixture must fail on exactly those paths:
passing, or failing elsewhere, is a FAIL (so the entry is removed once the fixture is fixed, and a new
problem in the same fixture is not hidden).

Output: one line per fixture, `ok`, `skip (reason)`, `expected-failure (reason)` or `FAIL (error)`,
then `N passed, N failed, N skipped` alone on the last line (passed = ok + expected-failure).
Exit status 1 on any FAIL.

File-name conventions
---------------------
ElevenLabs (providers/elevenlabs/tests/fixtures):
  *_<4xx|5xx>*.json, *error*.json        skip: error body (the SDK types non-2xx bodies as Any)
  create_call_request_sip*.json          body of conversational_ai.sip_trunk.outbound_call (no request model:
                                         a model is built from the SDK method's signature, unknown keys refused)
  create_call_request*.json              body of conversational_ai.twilio.outbound_call (idem)
  create_call_response_sip*.json         SipTrunkOutboundCallResponse
  create_call_response*.json             TwilioOutboundCallResponse
  fetch_conversation*.json               GetConversationResponseModel
  webhook_post_call_transcription*.json  `data` -> GetConversationResponseModel (envelope: no SDK model;
                                         `type` must be post_call_transcription)
  webhook_post_call_audio*.json          skip: no SDK model for post_call_audio
  webhook_call_initiation_failure*.json  skip: no SDK model for call_initiation_failure
  webhook_unknown_type*.json             skip: deliberately not a vendor event type
  transcription_tool*.json               skip: our own live-transcription tool body, not a vendor payload
VAPI (providers/vapi/tests/fixtures; skipped with a line if providers/vapi does not exist):
  *_<4xx|5xx>*.json, *error*.json        skip: error body (the SDK types non-2xx bodies as Any)
  create_call_request*.json              body of calls.create (vapi-server-sdk 3.0.0 has no CreateCallDto
                                         class: a model is built from the method's signature, unknown keys
                                         refused; the wire names are read from the SDK's own json= dict)
  create_call_response*.json, call_response*.json, get_call_response*.json, fetch_call*.json
                                         Call
  list_calls_response*.json              a JSON array, each item Call
  hangup_request*.json, control_*.json   skip: control-URL body; ClientInboundMessageEndCall declares no field
  [server_]message_<type>*.json, webhook_<type>*.json
                                         ServerMessage<Type>, <type> in snake_case, the longest matching class
                                         name wins (message_status_update_busy.json -> ServerMessageStatusUpdate,
                                         message_end_of_call_report.json -> ServerMessageEndOfCallReport,
                                         message_transcript_partial.json -> ServerMessageTranscript, also
                                         message_hang, message_conversation_update, message_speech_update,
                                         message_tool_calls, message_assistant_request, ...). A
                                         `{"message": {...}}` envelope is unwrapped; the message's `type` must
                                         be one the class declares (both transcript spellings are).
Retell (providers/retell/tests/fixtures; skipped with a line if providers/retell does not exist):
  *_<4xx|5xx>*.json, *error*.json        skip: error body (the SDK types non-2xx bodies as Any)
  create_call_request*.json              CallCreatePhoneCallParams (a TypedDict: validated as such, every
                                         TypedDict of its module made extra="forbid", so unknown keys and
                                         unknown Literal values fail; no strict pass, pydantic is strict here)
  list_calls_request*.json               CallListParams (idem)
  create_call_response*.json, get_call_response*.json
                                         PhoneCallResponse (the create answer is the same object as GET)
  list_calls_response*.json              CallListResponse
  webhook_chat_*.json                    skip: chat agents' webhooks, ignored by the gateway (no SDK model)
  webhook_<event>*.json                  `call` -> PhoneCallResponse (envelope `{"event", "call"}`: no SDK
                                         model; `event` must be one Retell documents)
Add a rule (or a LENIENT / EXPECTED_FAILURES entry with its reason) when a new kind of fixture appears.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pydantic

if not pydantic.VERSION.startswith("2."):
    sys.exit(f"validate_fixtures: needs pydantic 2 (the pinned SDKs use it), found {pydantic.VERSION}")

ERROR_BODY = r"(^|_)([45]\d\d|error)(_|\.|$)"


# --------------------------------------------------------------------------------------------------
# Deliberate deviations. Keys are paths relative to providers/ (e.g. "elevenlabs/x.json").
# --------------------------------------------------------------------------------------------------

# Fixture -> (reason, the exact JSON paths pydantic must reject). Union branches whose `type`
# discriminant does not match are pruned, so paths are those of the branch the fixture means.
EXPECTED_FAILURES: Dict[str, Tuple[str, List[str]]] = {
    "retell/webhook_call_ended_unknown_reason.json": (
        "deliberate: a disconnection_reason the SDK does not know yet (retell-sdk types it as a closed Literal)",
        ["call.disconnection_reason"],
    ),
}

# The webhook events Retell documents (the envelope has no SDK model).
RETELL_EVENTS = {
    "call_started", "call_ended", "call_analyzed", "transcript_updated",
    "transfer_started", "transfer_bridged", "transfer_cancelled", "transfer_ended",
}

# Fixture -> {strict-pass finding: reason}. A finding is "unknown-key <path>", "unknown-enum <path>"
# or "python-name <path>", as the FAIL line prints it. An entry that matches no finding (of a fixture
# that validates) is stale and FAILS.
LENIENT: Dict[str, Dict[str, str]] = {
    "vapi/message_end_of_call_report.json": {
        "unknown-key message.durationSeconds": "VAPI sends it (the vendor file's sample has it); SDK 3.0.0 does not declare it",
    },
    "vapi/message_end_of_call_report_minimal.json": {
        "unknown-enum message.endedReason": "deliberate: an endedReason the SDK does not know yet",
    },
    "vapi/message_status_update_ended_unknown_reason.json": {
        "unknown-enum message.endedReason": "deliberate: an error-family endedReason the SDK does not know yet",
    },
    "elevenlabs/webhook_post_call_transcription_unknown_enums.json": {
        "unknown-enum data.status": "deliberate: a conversation status the SDK does not know yet",
        "unknown-enum data.transcript[0].role": "deliberate: a transcript role the SDK does not know yet",
        "unknown-enum data.metadata.phone_call.call_result": "deliberate: a call result the SDK does not know yet",
        "unknown-enum data.analysis.call_successful": "deliberate: a verdict the SDK does not know yet",
    },
}


# --------------------------------------------------------------------------------------------------
# Validation targets
# --------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """What a fixture (or the part `extract` picks) is validated against."""

    name: str  # shown in the output
    model: Callable[[], type]  # lazily imported pydantic model class
    extract: str = "whole"  # whole | data (ElevenLabs webhook) | message (VAPI envelope) | call (Retell webhook)
    envelope_type: Optional[str] = None  # for extract=data: the envelope's expected `type`
    many: bool = False  # the fixture is a JSON array of the model
    check_type_literal: bool = False  # the object's `type` must be one the model declares
    strict_pass: bool = True  # walk the validated model for unknown keys/enums (not for TypedDicts)


@dataclass
class Rule:
    pattern: str  # regex searched in the file name
    target: Optional[Callable[[str], Target]] = None  # file name -> Target
    skip: Optional[str] = None  # reason, when the SDK has no model for it


def sdk_type(module: str, name: str) -> Callable[[], type]:
    def load() -> type:
        mod = __import__(module, fromlist=[name])
        return getattr(mod, name)

    return load


def fixed(target: Target) -> Callable[[str], Target]:
    return lambda _name: target


def request_body_model(module: str, cls: str, method: str) -> Callable[[], type]:
    """A pydantic model of a request body the SDK builds only from a method's keyword arguments.

    The wire keys come from the method's own `json={...}` dict, the types from its annotations; keys the
    SDK would not send are refused (extra="forbid"), arguments without a default are required.
    """

    def load() -> type:
        mod = __import__(module, fromlist=[cls])
        func = getattr(getattr(mod, cls), method)
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        wire: Dict[str, str] = {}  # parameter -> wire key
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "json" and isinstance(node.value, ast.Dict):
                for key, value in zip(node.value.keys, node.value.values):
                    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                        continue
                    if isinstance(value, ast.Name):
                        wire[value.id] = key.value
                    elif isinstance(value, ast.Call):
                        for kw in value.keywords:
                            if kw.arg == "object_" and isinstance(kw.value, ast.Name):
                                wire[kw.value.id] = key.value
        if not wire:
            raise RuntimeError(f"{module}.{cls}.{method}: no json= body found in the SDK source")
        hints = typing.get_type_hints(func, globalns=vars(mod))
        params = inspect.signature(func).parameters
        fields: Dict[str, Any] = {}
        for param, key in wire.items():
            p = params[param]
            required = p.default is inspect.Parameter.empty
            fields[param] = (
                typing.Annotated[hints[param], pydantic.Field(alias=key)],
                ... if required else None,
            )
        model = pydantic.create_model(  # type: ignore[call-overload]
            f"{cls}.{method} body",
            __config__=pydantic.ConfigDict(extra="forbid", protected_namespaces=(), populate_by_name=False),
            **fields,
        )
        return model

    return load


# ---- ElevenLabs ----------------------------------------------------------------------------------

EL_TYPES = "elevenlabs.types"
EL_CONVERSATION = Target("GetConversationResponseModel", sdk_type(EL_TYPES, "GetConversationResponseModel"))

ELEVENLABS_RULES: List[Rule] = [
    Rule(ERROR_BODY, skip="no SDK model: error body (the SDK types non-2xx bodies as Any)"),
    Rule(
        r"^create_call_request_sip",
        fixed(
            Target(
                "sip_trunk.outbound_call body (no request model; built from the SDK method signature)",
                request_body_model(
                    "elevenlabs.conversational_ai.sip_trunk.raw_client", "RawSipTrunkClient", "outbound_call"
                ),
            )
        ),
    ),
    Rule(
        r"^create_call_request",
        fixed(
            Target(
                "twilio.outbound_call body (no request model; built from the SDK method signature)",
                request_body_model(
                    "elevenlabs.conversational_ai.twilio.raw_client", "RawTwilioClient", "outbound_call"
                ),
            )
        ),
    ),
    Rule(
        r"^create_call_response_sip",
        fixed(Target("SipTrunkOutboundCallResponse", sdk_type(EL_TYPES, "SipTrunkOutboundCallResponse"))),
    ),
    Rule(
        r"^create_call_response",
        fixed(Target("TwilioOutboundCallResponse", sdk_type(EL_TYPES, "TwilioOutboundCallResponse"))),
    ),
    Rule(r"^fetch_conversation", fixed(EL_CONVERSATION)),
    Rule(
        r"^webhook_post_call_transcription",
        fixed(
            Target(
                "data -> GetConversationResponseModel; envelope: no SDK model",
                EL_CONVERSATION.model,
                extract="data",
                envelope_type="post_call_transcription",
            )
        ),
    ),
    Rule(r"^webhook_post_call_audio", skip="no SDK model for post_call_audio"),
    Rule(r"^webhook_call_initiation_failure", skip="no SDK model for call_initiation_failure"),
    Rule(r"^webhook_unknown_type", skip="deliberately not a vendor event type: no model can exist"),
    Rule(r"^transcription_tool", skip="no SDK model: our own live-transcription tool body, not a vendor payload"),
]


# ---- VAPI ----------------------------------------------------------------------------------------

VAPI_TYPES = "vapi.types"


def vapi_server_message(file_name: str) -> Target:
    stem = re.sub(r"^(server_message_|message_|webhook_)", "", Path(file_name).stem)
    words = [w for w in stem.split("_") if w]
    import vapi.types as vt  # heavy (2,000+ classes): imported only when a VAPI message fixture exists

    for n in range(len(words), 0, -1):
        name = "ServerMessage" + "".join(w.capitalize() for w in words[:n])
        cls = getattr(vt, name, None)
        if isinstance(cls, type) and issubclass(cls, pydantic.BaseModel) and "type" in cls.model_fields:
            return Target(name, lambda cls=cls: cls, extract="message", check_type_literal=True)
    raise LookupError(f"no vapi.types.ServerMessage<Type> class matches the file name (words: {words})")


VAPI_RULES: List[Rule] = [
    Rule(ERROR_BODY, skip="no SDK model: error body (the SDK types non-2xx bodies as Any)"),
    Rule(
        r"^create_call_request",
        fixed(
            Target(
                "calls.create body (no CreateCallDto class in the SDK; built from the SDK method signature)",
                request_body_model("vapi.calls.raw_client", "RawCallsClient", "create"),
            )
        ),
    ),
    Rule(r"^(create_call_response|call_response|get_call_response|fetch_call)", fixed(Target("Call", sdk_type(VAPI_TYPES, "Call")))),
    Rule(r"^list_calls_response", fixed(Target("list of Call", sdk_type(VAPI_TYPES, "Call"), many=True))),
    Rule(r"^(hangup_request|control_)", skip="no SDK model: control-URL body (ClientInboundMessageEndCall declares no field)"),
    Rule(r"^(server_message_|message_|webhook_)", vapi_server_message),
]

# ---- Retell --------------------------------------------------------------------------------------

RETELL_TYPES = "retell.types"


def typed_dict_model(module: str, name: str) -> Callable[[], type]:
    """A pydantic model validating a request body the SDK types as a TypedDict (Stainless params).

    Every TypedDict of the module refuses keys it does not declare (extra="forbid"); their Literal
    types refuse unknown values. The model is a RootModel: no strict pass runs over it.
    """

    def load() -> type:
        mod = __import__(module, fromlist=[name])
        for value in vars(mod).values():
            if isinstance(value, type) and typing.is_typeddict(value):
                value.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")  # type: ignore[attr-defined]
        root = getattr(mod, name)
        model = pydantic.RootModel[root]  # type: ignore[valid-type]
        model.__name__ = name
        return model

    return load


RETELL_PHONE_CALL = Target("PhoneCallResponse", sdk_type(RETELL_TYPES, "PhoneCallResponse"))

RETELL_RULES: List[Rule] = [
    Rule(ERROR_BODY, skip="no SDK model: error body (the SDK types non-2xx bodies as Any)"),
    Rule(
        r"^create_call_request",
        fixed(
            Target(
                "CallCreatePhoneCallParams (TypedDict, unknown keys refused)",
                typed_dict_model("retell.types.call_create_phone_call_params", "CallCreatePhoneCallParams"),
                strict_pass=False,
            )
        ),
    ),
    Rule(
        r"^list_calls_request",
        fixed(
            Target(
                "CallListParams (TypedDict, unknown keys refused)",
                typed_dict_model("retell.types.call_list_params", "CallListParams"),
                strict_pass=False,
            )
        ),
    ),
    Rule(r"^(create_call_response|get_call_response)", fixed(RETELL_PHONE_CALL)),
    Rule(r"^list_calls_response", fixed(Target("CallListResponse", sdk_type(RETELL_TYPES, "CallListResponse")))),
    Rule(r"^webhook_chat_", skip="no SDK model: a chat agent's webhook, which the gateway ignores"),
    Rule(
        r"^webhook_",
        fixed(Target("call -> PhoneCallResponse; envelope: no SDK model", RETELL_PHONE_CALL.model, extract="call")),
    ),
]

PROVIDERS: Dict[str, List[Rule]] = {"elevenlabs": ELEVENLABS_RULES, "vapi": VAPI_RULES, "retell": RETELL_RULES}
REQUIRED_PROVIDERS = {"elevenlabs"}  # the others are skipped with a line when their directory is absent


# --------------------------------------------------------------------------------------------------
# Pydantic errors, strict pass
# --------------------------------------------------------------------------------------------------


def is_branch_tag(part: Any) -> bool:
    """Loc elements pydantic adds for union members (class names, `list[...]`, `function-...`)."""
    return isinstance(part, str) and (bool(re.match(r"^[A-Z][A-Za-z0-9_]*$", part)) or "[" in part or part.startswith("function-"))


def fmt_path(prefix: str, loc: Tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if is_branch_tag(part):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def relevant_errors(errors: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Drop errors of union branches whose `type` discriminant rejected the input (the fixture means another branch)."""
    wrong: List[Tuple[Any, ...]] = []
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "literal_error" and loc and loc[-1] == "type" and len(loc) >= 2 and is_branch_tag(loc[-2]):
            wrong.append(loc[:-1])
    kept = [e for e in errors if not any(tuple(e["loc"])[: len(w)] == w for w in wrong)]
    return kept or errors


def enum_literals(ann: Any) -> Optional[set]:
    """The known values of a Fern enum (`Union[Literal[...], Any]`, possibly Optional), else None."""
    ann = strip(ann)
    if typing.get_origin(ann) is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        lits = [a for a in args if typing.get_origin(a) is typing.Literal]
        if lits and any(a is Any for a in args):
            return {v for lit in lits for v in typing.get_args(lit)}
        if len(args) == 1:
            return enum_literals(args[0])
    return None


def strip(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    if typing.get_origin(ann) is typing.Union:
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return strip(args[0])
    return ann


def item_annotation(ann: Any, index: int) -> Any:
    ann = strip(ann)
    args = typing.get_args(ann)
    if typing.get_origin(ann) in (list, tuple, set, frozenset, typing.Sequence) or str(typing.get_origin(ann)).endswith("Sequence'>"):
        return args[0] if args else Any
    if typing.get_origin(ann) is dict:
        return args[index] if len(args) > index else Any
    return Any


def strict_findings(model: pydantic.BaseModel, raw: Dict[str, Any], path: str, out: List[str]) -> None:
    fields = type(model).model_fields
    wire_of = {name: (fi.alias or name) for name, fi in fields.items()}
    wire_keys = set(wire_of.values())
    for key in raw:
        if key in wire_keys:
            continue
        where = f"{path}.{key}" if path else key
        if key in fields:
            out.append(f"python-name {where} (the wire name is {wire_of[key]!r})")
        else:
            out.append(f"unknown-key {where}")
    for name, fi in fields.items():
        key = wire_of[name] if wire_of[name] in raw else name if name in raw else None
        if key is None:
            continue
        check_value(fi.annotation, getattr(model, name), raw[key], f"{path}.{key}" if path else key, out)


def check_value(ann: Any, value: Any, raw: Any, path: str, out: List[str]) -> None:
    if value is None or raw is None:
        return
    known = enum_literals(ann)
    if known is not None and isinstance(raw, (str, int)) and not isinstance(raw, bool) and raw not in known:
        values = sorted(map(str, known))
        shown = ", ".join(values) if len(values) <= 12 else ", ".join(values[:12]) + f", ... ({len(values)} values)"
        out.append(f"unknown-enum {path} = {raw!r} (the SDK knows {shown})")
    if isinstance(value, pydantic.BaseModel) and isinstance(raw, dict):
        strict_findings(value, raw, path, out)
    elif isinstance(value, (list, tuple)) and isinstance(raw, list):
        for i, (v, r) in enumerate(zip(value, raw)):
            check_value(item_annotation(ann, 0), v, r, f"{path}[{i}]", out)
    elif isinstance(value, dict) and isinstance(raw, dict):
        for k, r in raw.items():
            if k in value:
                check_value(item_annotation(ann, 1), value[k], r, f"{path}.{k}", out)


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # ok | skip | expected-failure | FAIL
    detail: str


def one_line(text: str, limit: int = 1500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate(key: str, path: Path, target: Target) -> Outcome:
    obj = json.loads(path.read_text(encoding="utf-8"))
    prefix = ""
    notes: List[str] = []
    if target.extract == "data":
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), dict):
            return Outcome("FAIL", "a webhook envelope needs a `data` object")
        if target.envelope_type is not None and obj.get("type") != target.envelope_type:
            return Outcome("FAIL", f"envelope type {obj.get('type')!r}, the file name says {target.envelope_type!r}")
        obj, prefix = obj["data"], "data"
    elif target.extract == "call":
        if not isinstance(obj, dict) or not isinstance(obj.get("call"), dict):
            return Outcome("FAIL", "a Retell webhook envelope needs a `call` object")
        if obj.get("event") not in RETELL_EVENTS:
            return Outcome("FAIL", f"event {obj.get('event')!r} is not one Retell documents: {sorted(RETELL_EVENTS)}")
        if set(obj) - {"event", "call"}:
            return Outcome("FAIL", f"unknown envelope keys {sorted(set(obj) - {'event', 'call'})}")
        obj, prefix = obj["call"], "call"
    elif target.extract == "message" and isinstance(obj, dict) and isinstance(obj.get("message"), dict) and "type" not in obj:
        obj, prefix = obj["message"], "message"
        notes.append("envelope unwrapped")

    model = target.model()
    items: List[Tuple[str, Any]] = [(prefix, obj)]
    if target.many:
        if not isinstance(obj, list):
            return Outcome("FAIL", "expected a JSON array")
        items = [(f"{prefix}[{i}]", o) for i, o in enumerate(obj)]

    errors: List[str] = []
    error_paths: List[str] = []
    findings: List[str] = []
    for where, o in items:
        try:
            inst = model.model_validate(o)
        except pydantic.ValidationError as exc:
            for e in relevant_errors(exc.errors(include_url=False)):
                p = fmt_path(where, tuple(e["loc"]))
                error_paths.append(p)
                branch = [part for part in e["loc"] if is_branch_tag(part)]
                got = "" if e["type"] == "missing" else f", got {json.dumps(e.get('input'), default=str)[:80]}"
                errors.append(f"{p or '<root>'}: {e['msg']}{got}" + (f" (as {branch[-1]})" if branch else ""))
            continue
        if isinstance(o, dict) and target.strict_pass:
            strict_findings(inst, o, where, findings)
            if target.check_type_literal:
                known = enum_literals(model.model_fields["type"].annotation)
                if known is not None and o.get("type") not in known:
                    errors.append(f"{where}.type is {o.get('type')!r}; {target.name} declares {sorted(known)}")
                    error_paths.append(f"{where}.type")

    expected = EXPECTED_FAILURES.get(key)
    if errors:
        if expected and sorted(set(error_paths)) == sorted(set(expected[1])):
            return Outcome("expected-failure", expected[0])
        if expected:
            return Outcome("FAIL", "failed other than expected: " + "; ".join(errors) + f" (expected exactly: {', '.join(expected[1])})")
        return Outcome("FAIL", "; ".join(errors))

    lenient = LENIENT.get(key, {})
    found = {f.split(" (")[0].split(" = ")[0] for f in findings}
    unexplained = [f for f in findings if f.split(" (")[0].split(" = ")[0] not in lenient]
    unexplained += [f"stale LENIENT entry {k!r}: no such finding, delete it" for k in lenient if k not in found]
    if expected:
        strict = f"; strict check: {'; '.join(unexplained)}" if unexplained else ""
        return Outcome("FAIL", f"listed in EXPECTED_FAILURES but {model.__name__} accepts it: delete the entry{strict}")
    if unexplained:
        return Outcome("FAIL", f"accepted by {model.__name__}, but strict check: " + "; ".join(unexplained))
    explained = [f"{len(lenient)} deliberate finding(s) allowed by LENIENT"] if lenient else []
    return Outcome("ok", "; ".join([target.name] + notes + explained))


def run(root: Path) -> int:
    providers_dir = root / "providers"
    counts = {"ok": 0, "skip": 0, "expected-failure": 0, "FAIL": 0}

    def report(status: str, where: str, detail: str) -> None:
        counts[status] += 1
        line = f"{status:<16} {where}" + (f" ({one_line(detail)})" if detail else "")
        print(line, flush=True)

    # Fixtures of providers that have no rule table fail: somebody must decide how to validate them.
    for fixture_dir in sorted(providers_dir.glob("*/tests/fixtures")):
        provider = fixture_dir.parent.parent.name
        if provider not in PROVIDERS:
            for path in sorted(fixture_dir.rglob("*.json")):
                report("FAIL", str(path.relative_to(root)), f"provider {provider!r} has no rule table in scripts/validate_fixtures.py")

    for provider, rules in PROVIDERS.items():
        base = providers_dir / provider
        fixture_dir = base / "tests" / "fixtures"
        if not base.is_dir():
            if provider in REQUIRED_PROVIDERS:
                report("FAIL", f"providers/{provider}", "directory missing")
            else:
                print(f"skip             providers/{provider} (directory does not exist: no {provider} fixtures to validate)")
            continue
        paths = sorted(fixture_dir.rglob("*.json")) if fixture_dir.is_dir() else []
        if not paths:
            status = "FAIL" if provider in REQUIRED_PROVIDERS else None
            if status:
                report(status, f"providers/{provider}/tests/fixtures", "no fixtures found")
            else:
                print(f"skip             providers/{provider}/tests/fixtures (no fixtures yet)")
            continue
        for path in paths:
            rel = str(path.relative_to(root))
            key = str(path.relative_to(providers_dir).as_posix()).replace("/tests/fixtures/", "/")
            rule = next((r for r in rules if re.search(r.pattern, path.name)), None)
            try:
                if rule is None:
                    raise LookupError("matches no rule: add one to scripts/validate_fixtures.py (see its header)")
                if rule.skip is not None:
                    json.loads(path.read_text(encoding="utf-8"))  # a skipped fixture must still be JSON
                    if key in EXPECTED_FAILURES:
                        raise LookupError("skipped fixture listed in EXPECTED_FAILURES: delete the entry")
                    outcome = Outcome("skip", rule.skip)
                else:
                    assert rule.target is not None
                    outcome = validate(key, path, rule.target(path.name))
            except Exception as exc:  # noqa: BLE001 - every problem is one FAIL line, never a traceback
                outcome = Outcome("FAIL", f"{type(exc).__name__}: {exc}")
            report(outcome.status, rel, outcome.detail)

    passed = counts["ok"] + counts["expected-failure"]
    print(f"{passed} passed, {counts['FAIL']} failed, {counts['skip']} skipped")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    sys.exit(run(repo.resolve()))
