// Calls to the dashboard API (same origin, session cookies). Every
// state-changing call carries the CSRF header the API requires; a 401 renews
// the session once (single-flight across tabs, see session.ts) and retries.

import { renewIfOlderThan } from "./session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from `Retry-After` (the sign-in throttle's 429). */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

type QueryValue = string | number | boolean | null | undefined;
export type Query = Record<string, QueryValue>;

interface CallOptions {
  query?: Query;
  body?: unknown;
}

/** Called when the session is gone for good: go and sign in. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(handler: () => void) {
  onSignedOut = handler;
}

// A superadmin may act on another org: the org-scoped routes take `?org=`.
let actingOrg: string | null = null;
export function actAsOrg(orgId: string | null) {
  actingOrg = orgId;
}
const ORG_SCOPED = /^\/(chats|analytics\/|exports\/|orgs\/me)/;

export function url(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  if (actingOrg && ORG_SCOPED.test(path)) params.set("org", actingOrg);
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

async function send(method: string, path: string, options: CallOptions): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (method !== "GET") headers["x-csrf-protection"] = "1";
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  return fetch(url(path, options.query), { method, headers, body, credentials: "same-origin" });
}

async function failure(response: Response): Promise<ApiError> {
  let code = "http_error";
  let message = `The server answered ${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body?.error?.code) {
      code = body.error.code;
      message = body.error.message ?? message;
    }
  } catch {
    // Not JSON (a proxy's error page): keep the status line.
  }
  const retry = Number(response.headers.get("retry-after"));
  return new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
}

export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const sentAt = Date.now();
  let response = await send(method, path, options);
  if (response.status === 401 && !path.startsWith("/auth/")) {
    if (await renewIfOlderThan(sentAt)) response = await send(method, path, options);
    if (response.status === 401) {
      onSignedOut();
      throw await failure(response);
    }
  }
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string, query?: Query) => call<T>("GET", path, { query });
export const post = <T>(path: string, body?: unknown) => call<T>("POST", path, { body });
export const patch = <T>(path: string, body: unknown) => call<T>("PATCH", path, { body });
export const del = (path: string) => call<void>("DELETE", path);
/** A DELETE that answers a body (and may take a query). */
export const delAnswering = <T>(path: string, query?: Query) => call<T>("DELETE", path, { query });
