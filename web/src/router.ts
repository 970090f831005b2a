// URLs of the app: every page has its own address under /app/, filters and
// cursors live in the query string, and the browser's history does back and
// forward. Links are plain <a href>: a click on one is turned into a history
// push here, so they also open in a new tab as usual.

import { useEffect, useState } from "preact/hooks";

export const BASE = "/app";
export const HOME = `${BASE}/chats`;

export type Route =
  | { page: "signin" }
  | { page: "chats" }
  | { page: "chat"; id: string }
  | { page: "analytics" }
  | { page: "exports" }
  | { page: "keys" }
  | { page: "users" }
  | { page: "org" }
  | { page: "account" }
  | { page: "notfound" };

const SIMPLE = ["signin", "chats", "analytics", "exports", "keys", "users", "org", "account"] as const;

export function match(pathname: string): Route {
  const rest = pathname.startsWith(`${BASE}/`) ? pathname.slice(BASE.length + 1).replace(/\/$/, "") : null;
  if (rest === null) return { page: "notfound" };
  if ((SIMPLE as readonly string[]).includes(rest)) return { page: rest as (typeof SIMPLE)[number] };
  const chat = /^chats\/([0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26})$/.exec(rest);
  if (chat) return { page: "chat", id: chat[1].toUpperCase() };
  return { page: "notfound" };
}

const CHANGE = "chatlogger:navigate";

export function navigate(to: string, options: { replace?: boolean } = {}) {
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(CHANGE));
}

export interface Location {
  pathname: string;
  search: URLSearchParams;
  /** pathname + search: identifies a page state. */
  href: string;
}

function current(): Location {
  return {
    pathname: location.pathname,
    search: new URLSearchParams(location.search),
    href: location.pathname + location.search,
  };
}

export function useLocation(): Location {
  const [where, setWhere] = useState(current);
  useEffect(() => {
    const update = () => setWhere(current());
    window.addEventListener("popstate", update);
    window.addEventListener(CHANGE, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(CHANGE, update);
    };
  }, []);
  return where;
}

/** `path?query` with the empty values left out. */
export function withQuery(path: string, query: Record<string, string | null | undefined>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value) params.set(name, value);
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

/** Sends clicks on same-origin links under /app/ through the history API. */
export function interceptLinks() {
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || link.target || link.hasAttribute("download")) return;
    const to = new URL(link.href, location.href);
    if (to.origin !== location.origin || !to.pathname.startsWith(`${BASE}/`)) return;
    event.preventDefault();
    if (to.pathname + to.search !== location.pathname + location.search) navigate(to.pathname + to.search);
  });
}

/** Where sign-in sends the user back to: only a page of this app. */
export function safeReturnTo(raw: string | null): string {
  if (!raw || !raw.startsWith(`${BASE}/`) || raw.startsWith("//") || raw.startsWith(`${BASE}/signin`)) return HOME;
  return raw;
}
