// Small pieces every page uses: loading data, page headings, error and empty
// states, confirmations, copy buttons.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { ApiError, type Query, get } from "./api";
import { waitFor } from "./format";
import type { Paged } from "./types";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  setData: (data: T) => void;
}

/** Runs `load` when `key` changes; a stale answer never overwrites a newer one. */
export function useLoad<T>(load: () => Promise<T>, key: string): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ data: previous.data, loading: true }));
    load().then(
      (data) => current && setState({ data, loading: false }),
      (error) => current && setState({ error, loading: false }),
    );
    return () => {
      current = false;
    };
    // `load` is a new closure on every render; `key` says when it changed.
  }, [key, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const setData = useCallback((data: T) => setState({ data, loading: false }), []);
  return { data: state.data, error: state.error, loading: state.loading, reload, setData };
}

/** A list read a page at a time: the first page on `key`, more on demand. */
export interface PagedList<T> {
  items: T[];
  setItems: (items: T[] | ((current: T[]) => T[])) => void;
  first: Loaded<void>;
  /** Reads the next page; null when there is none. */
  more: (() => Promise<void>) | null;
  moreError: unknown;
}

export function usePaged<T>(path: string, query: Query, key: string): PagedList<T> {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreError, setMoreError] = useState<unknown>(null);
  const first = useLoad(async () => {
    const page = await get<Paged<T>>(path, query);
    setItems(page.items);
    setCursor(page.next_cursor ?? null);
  }, key);
  const more = async () => {
    setMoreError(null);
    try {
      const page = await get<Paged<T>>(path, { ...query, cursor });
      setItems([...items, ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (failure) {
      setMoreError(failure);
    }
  };
  return { items, setItems, first, more: cursor ? more : null, moreError };
}

/** A form's submit: busy while it runs, then its error or its success message. */
export function useSubmit() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const fail = (failure: unknown) => {
    setDone(null);
    setError(failure);
  };
  const run = async (work: () => Promise<string | void>) => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone((await work()) || null);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const status = (
    <>
      <ErrorNote error={error} />
      {done && (
        <p class="notice success" role="status">
          {done}
        </p>
      )}
    </>
  );
  return { busy, error, run, fail, status };
}

/** The page's title, in the heading and the tab; focus moves here on navigation. */
export function PageHeader(props: { title: string; children?: ComponentChildren }) {
  useEffect(() => {
    document.title = `${props.title} · chatlogger`;
  }, [props.title]);
  return (
    <div class="page-header">
      <h1 id="page-title" tabIndex={-1}>
        {props.title}
      </h1>
      {props.children && <div class="page-actions">{props.children}</div>}
    </div>
  );
}

/** What went wrong, in words: the API's own message, or the wait for a 429. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429 && error.retryAfter) {
      return `${error.message} Try again in ${waitFor(error.retryAfter)}.`;
    }
    if (error.status === 403) return "You don't have permission to do that.";
    return error.message;
  }
  if (error instanceof TypeError) return "Could not reach the server. Check your connection and try again.";
  return error instanceof Error ? error.message : String(error);
}

export function ErrorNote(props: { error: unknown; onRetry?: () => void; class?: string }) {
  if (!props.error) return null;
  return (
    <div class={`notice error ${props.class ?? ""}`} role="alert">
      <p>{describe(props.error)}</p>
      {props.onRetry && (
        <button type="button" class="secondary" onClick={props.onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Success(props: { children: ComponentChildren }) {
  return (
    <div class="notice success" role="status">
      {props.children}
    </div>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p class="muted" role="status">
      Loading{props.what ? ` ${props.what}` : ""}…
    </p>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <p class="empty-title">{props.title}</p>
      {props.children && <p class="muted">{props.children}</p>}
    </div>
  );
}

export function TagList(props: { tags: string[] }) {
  if (!props.tags.length) return <span class="muted">—</span>;
  return (
    <ul class="tags">
      {props.tags.map((tag) => (
        <li key={tag} class="tag">
          {tag}
        </li>
      ))}
    </ul>
  );
}

/**
 * A button that asks first, in a modal <dialog> (focus stays inside it; Esc
 * or Cancel closes it without acting).
 */
export function ConfirmButton(props: {
  label: string;
  /** The button's accessible name when `label` alone is ambiguous in a table. */
  ariaLabel?: string;
  title: string;
  message: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => Promise<unknown>;
  class?: string;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const open = () => {
    setError(null);
    dialog.current?.showModal();
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await props.onConfirm();
      dialog.current?.close();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const titleId = useId();
  return (
    <>
      <button type="button" class={props.class ?? "danger"} aria-label={props.ariaLabel} onClick={open}>
        {props.label}
      </button>
      <dialog ref={dialog} aria-labelledby={titleId} class="confirm">
        <h2 id={titleId}>{props.title}</h2>
        <div>{props.message}</div>
        <ErrorNote error={error} />
        <div class="dialog-actions">
          <button type="button" class="secondary" autofocus onClick={() => dialog.current?.close()}>
            Cancel
          </button>
          <button type="button" class="danger" disabled={busy} onClick={confirm}>
            {busy ? "Working…" : props.confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}

export function CopyButton(props: { text: string; label: string }) {
  const [copied, setCopied] = useState<"yes" | "failed" | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setCopied("yes");
    } catch {
      setCopied("failed");
    }
  };
  return (
    <span class="copy">
      <button type="button" onClick={copy}>
        {props.label}
      </button>
      <span role="status" class="muted">
        {copied === "yes" ? "Copied." : copied === "failed" ? "Could not copy: select the key and copy it." : ""}
      </span>
    </span>
  );
}

export function NoAccess() {
  return (
    <>
      <PageHeader title="No access" />
      <Empty title="Your role cannot open this page.">Ask an admin of your organisation if you need it.</Empty>
    </>
  );
}

/** Two date fields, whole UTC days, the end included. */
export function DayFields(props: {
  id: string;
  from: string;
  to: string;
  onFrom: (day: string) => void;
  onTo: (day: string) => void;
  what?: string;
  required?: boolean;
}) {
  const what = props.what ? `${props.what} ` : "";
  return (
    <>
      <div class="field">
        <label for={`${props.id}-from`}>{what ? `${what}from` : "From"} (UTC)</label>
        <input
          id={`${props.id}-from`}
          type="date"
          required={props.required}
          value={props.from}
          onInput={(e) => props.onFrom(e.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label for={`${props.id}-to`}>{what ? `${what}to` : "To"} (UTC, included)</label>
        <input
          id={`${props.id}-to`}
          type="date"
          required={props.required}
          value={props.to}
          onInput={(e) => props.onTo(e.currentTarget.value)}
        />
      </div>
    </>
  );
}

/** What is wrong with a day range, if anything. */
export function rangeProblem(from: string, to: string): string | null {
  return from && to && from > to ? "The start date must be on or before the end date." : null;
}

/** A paged list's first load: what went wrong, still loading, or nothing there. */
export function ListStatus(props: {
  list: Pick<PagedList<unknown>, "items" | "first">;
  what: string;
  empty: ComponentChildren;
}) {
  const { first, items } = props.list;
  return (
    <>
      <ErrorNote error={first.error} onRetry={first.reload} />
      {first.loading && items.length === 0 && <Loading what={props.what} />}
      {!first.loading && !first.error && items.length === 0 && props.empty}
    </>
  );
}

/** "Load more" under a paged list, with what went wrong loading it. */
export function LoadMore(props: { list: Pick<PagedList<unknown>, "more" | "moreError">; label: string }) {
  return (
    <>
      <ErrorNote error={props.list.moreError} />
      {props.list.more && <NextPage onClick={props.list.more} label={props.label} />}
    </>
  );
}

/** Next page of a cursor listing. */
export function NextPage(props: { href?: string | null; onClick?: () => void; label?: string }) {
  if (!props.href && !props.onClick) return null;
  return (
    <nav class="pager" aria-label="Pages">
      {props.href ? (
        <a class="button secondary" href={props.href}>
          {props.label ?? "Next page →"}
        </a>
      ) : (
        <button type="button" class="secondary" onClick={props.onClick}>
          {props.label ?? "Load more"}
        </button>
      )}
    </nav>
  );
}
