// Smoke test of the TypeScript client against a running gateway (scripts/clients-smoke starts one),
// through the client only: log in, place an echo call with an idempotency key and replay it, follow it
// to `completed`, read its transcript and events, page through the calls, get the typed error of a
// bad number.
// Env: GATEWAY_URL, GATEWAY_USERNAME, GATEWAY_PASSWORD (an admin).
import { randomUUID } from "node:crypto";

import { createGatewayClient, isTerminal, login, type Call } from "./src/index.js";

const TIMEOUT_MS = 30_000;

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set`);
  }
  return value;
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`smoke (typescript): ${what}`);
  }
  console.log(`ok: ${what}`);
}

const baseUrl = env("GATEWAY_URL");

// Log in with the password flow.
const anonymous = createGatewayClient({ baseUrl });
const tokens = await login(anonymous, env("GATEWAY_USERNAME"), env("GATEWAY_PASSWORD"));
check(tokens.data !== undefined, `logged in (HTTP ${tokens.response.status})`);
const client = createGatewayClient({ baseUrl, token: tokens.data.access_token });

// Place an echo call with an idempotency key, then replay the same request.
const key = randomUUID();
const request = { to: "+14155550123", provider: "echo", metadata: { smoke: "typescript" } };
const created = await client.POST("/v1/calls", {
  params: { header: { "Idempotency-Key": key } },
  body: request,
});
check(created.data !== undefined, `call created (HTTP ${created.response.status})`);
check(created.response.status === 201, "the first request answers 201");
const call: Call = created.data;
const replayed = await client.POST("/v1/calls", {
  params: { header: { "Idempotency-Key": key } },
  body: request,
});
check(replayed.data?.id === call.id, "the replay returns the same call");
check(replayed.response.status === 200, "the replay answers 200");
check(replayed.response.headers.get("Idempotent-Replayed") === "true", "the replay has Idempotent-Replayed: true");

// Follow it until it is final.
const deadline = Date.now() + TIMEOUT_MS;
let current: Call = call;
while (!isTerminal(current.status)) {
  if (Date.now() >= deadline) {
    throw new Error(`smoke (typescript): the call is not final after ${TIMEOUT_MS} ms (${current.status})`);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  const got = await client.GET("/v1/calls/{id}", { params: { path: { id: call.id } } });
  if (got.error !== undefined) {
    throw new Error(`GET /v1/calls/${call.id}: ${got.error.error.code}: ${got.error.error.message}`);
  }
  current = got.data;
}
check(current.status === "completed", `the call completed (status ${current.status})`);

// Its transcript and its status history.
const transcript = await client.GET("/v1/calls/{id}/transcript", { params: { path: { id: call.id } } });
check((transcript.data?.turns.length ?? 0) > 0, "the transcript has turns");
const events = await client.GET("/v1/calls/{id}/events", { params: { path: { id: call.id } } });
check(
  events.data?.events.some((event) => event.to_status === "completed" && event.applied) ?? false,
  "the events end in completed",
);

// A second call, then the list one call per page: the cursor leads from the newest to the older one.
const second = await client.POST("/v1/calls", { body: { to: "+14155550124", provider: "echo" } });
check(second.data !== undefined, "a second call created");
const first = await client.GET("/v1/calls", { params: { query: { limit: 1 } } });
check(first.data?.items.length === 1 && first.data.items[0]?.id === second.data.id, "page 1 is the newest call");
const cursor = first.data.next_cursor;
check(cursor !== undefined, "page 1 has a next_cursor");
const next = await client.GET("/v1/calls", { params: { query: { limit: 1, cursor } } });
check(next.data?.items[0]?.id === call.id, "page 2 is the older call");

// A bad number: the typed error.
const bad = await client.POST("/v1/calls", { body: { to: "12345", provider: "echo" } });
check(bad.response.status === 422, "a bad number answers 422");
check(bad.error?.error.code === "validation_failed", "the error's code is validation_failed");
check(bad.error.request_id === bad.response.headers.get("X-Request-Id"), "the error names the request id");

console.log("smoke (typescript): passed");
