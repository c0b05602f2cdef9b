// The typed client of the Voice Gateway API: `schema.ts` is generated from the OpenAPI document by
// openapi-typescript (scripts/generate-clients; do not edit it), requests go through openapi-fetch,
// so every path, parameter, body and answer is checked by the compiler.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";

import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };

/** Every schema of the document, by name: `Schemas["Call"]`. */
export type Schemas = components["schemas"];
export type Call = Schemas["Call"];
export type CallPage = Schemas["CallPage"];
export type CallStatus = Schemas["CallStatus"];
export type CreateCallRequest = Schemas["CreateCallRequest"];
export type Transcript = Schemas["Transcript"];
export type StatusHistory = Schemas["StatusHistory"];
/** The body of every error answer: `{"error": {"code", "message", "details"?}, "request_id"}`. */
export type ApiError = Schemas["Error"];
export type TokenResponse = Schemas["TokenResponse"];

/** The client: `client.GET("/v1/calls/{id}", { params: { path: { id } } })` and so on. */
export type GatewayClient = Client<paths>;

export interface GatewayClientOptions extends Omit<ClientOptions, "baseUrl"> {
  /** Where the gateway is, e.g. `https://gateway.example.com` (no trailing `/v1`). */
  baseUrl: string;
  /**
   * An access token (from `login`) or an API key (`vgk_...`), sent as `Authorization: Bearer ...`;
   * a function is asked before every request (for tokens that are refreshed).
   */
  token?: string | (() => string | undefined);
}

/** A client of the gateway at `baseUrl`, authenticated with `token` when given. */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const { token, ...rest } = options;
  const client = createClient<paths>(rest);
  if (token !== undefined) {
    client.use({
      onRequest({ request }) {
        const value = typeof token === "function" ? token() : token;
        if (value !== undefined && !request.headers.has("Authorization")) {
          request.headers.set("Authorization", `Bearer ${value}`);
        }
        return request;
      },
    });
  }
  return client;
}

/** The OAuth2 form body of `POST /v1/auth/token`. */
function formBody(body: Schemas["TokenRequest"]): URLSearchParams {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === "string") {
      form.set(key, value);
    }
  }
  return form;
}

/**
 * Logs in with the password flow (`POST /v1/auth/token`): the answer's `access_token` goes into
 * `createGatewayClient({ token })`, its `refresh_token` into `refresh`.
 */
export function login(client: GatewayClient, username: string, password: string) {
  return client.POST("/v1/auth/token", {
    body: { grant_type: "password", username, password },
    bodySerializer: formBody,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
}

/** Trades a refresh token for new tokens (`POST /v1/auth/token`, `refresh_token` grant). */
export function refresh(client: GatewayClient, refreshToken: string) {
  return client.POST("/v1/auth/token", {
    body: { grant_type: "refresh_token", refresh_token: refreshToken },
    bodySerializer: formBody,
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
  });
}

/** Whether a call's status is final (it will not change any more). */
export function isTerminal(status: CallStatus): boolean {
  return ["completed", "failed", "no_answer", "busy", "canceled"].includes(status);
}
