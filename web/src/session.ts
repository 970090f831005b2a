// The browser side of a dashboard session.
//
// The access token (a 15-minute JWT) and the refresh token live in HttpOnly
// cookies this code cannot read. Renewing means `POST /auth/refresh`, which
// rotates the refresh token: presenting one that was already rotated away
// (two tabs refreshing with the same cookie at once) makes the server revoke
// the whole session. So renewals are single-flight across every tab of this
// origin:
//
// - a Web Lock (`navigator.locks`) lets one renewal run at a time, in any
//   tab, so no two refreshes are ever in flight together;
// - whoever holds the lock reads when the session was last renewed and skips
//   the refresh if another tab already renewed after the moment it cares
//   about. That record lives in IndexedDB, whose transactions are consistent
//   across tabs: a renewal written before the lock was released is what the
//   next holder reads (localStorage gives no such promise between tabs);
// - a BroadcastChannel tells the other tabs of each renewal (they move their
//   timers) and of a sign-out (they go to the sign-in page).
//
// Every tab renews ahead of expiry on a timer; a data call that still gets a
// 401 renews once through the same lock and retries (see api.ts).

const LOCK_NAME = "chatlogger-session-renewal";
const CHANNEL_NAME = "chatlogger-session";
/** The server's access-token lifetime. */
export const ACCESS_TOKEN_LIFETIME_MS = 15 * 60_000;
/** Renew this long after the last renewal: well before the token expires. */
export const RENEW_AFTER_MS = 10 * 60_000;

// ---- the renewal record: one number in IndexedDB ----------------------------

const DATABASE = "chatlogger";
const STORE = "session";
const RENEWED_AT = "renewedAt";

let database: Promise<IDBDatabase> | null = null;

function open(): Promise<IDBDatabase> {
  database ??= new Promise((done, fail) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => done(request.result);
    request.onerror = () => fail(request.error);
  });
  return database;
}

/** Runs one request in a transaction and resolves when it has committed. */
async function transact(mode: IDBTransactionMode, use: (store: IDBObjectStore) => IDBRequest): Promise<unknown> {
  const transaction = (await open()).transaction(STORE, mode);
  const request = use(transaction.objectStore(STORE));
  return new Promise((done, fail) => {
    transaction.oncomplete = () => done(request.result);
    transaction.onerror = transaction.onabort = () => fail(transaction.error);
  });
}

async function lastRenewal(): Promise<number | null> {
  try {
    const value = await transact("readonly", (store) => store.get(RENEWED_AT));
    return typeof value === "number" ? value : null;
  } catch {
    return null; // No IndexedDB here: every renewal refreshes (still one at a time).
  }
}

async function recordRenewal(at: number | null) {
  try {
    await transact("readwrite", (store) => (at === null ? store.delete(RENEWED_AT) : store.put(at, RENEWED_AT)));
  } catch {
    // As above: without the record, tabs just skip less.
  }
}

// ---- single flight ------------------------------------------------------------

/** Runs `task` alone across every tab (in this tab only, without Web Locks). */
let localQueue: Promise<unknown> = Promise.resolve();
function exclusively<T>(task: () => Promise<T>): Promise<T> {
  if (navigator.locks) return navigator.locks.request(LOCK_NAME, task) as Promise<T>;
  const run = localQueue.then(task, task);
  localQueue = run.catch(() => undefined);
  return run;
}

type News = { type: "renewed" } | { type: "signed-out" };
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL_NAME) : null;
const tell = (news: News) => channel?.postMessage(news);

/**
 * Makes sure the session was renewed after `since` (epoch ms): by this tab
 * now, or already by another. Resolves false when the server refuses (the
 * session ended), true otherwise.
 */
export function renewIfOlderThan(since: number): Promise<boolean> {
  return exclusively(async () => {
    const last = await lastRenewal();
    if (last !== null && last > since) return true;
    const response = await fetch("/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-protection": "1" },
    });
    if (response.ok) {
      // Recorded before the lock is released: the next holder sees it.
      await recordRenewal(Date.now());
      tell({ type: "renewed" });
      schedule();
      return true;
    }
    if (response.status === 401) return false;
    throw new Error(`renewing the session failed: HTTP ${response.status}`);
  });
}

// ---- this tab's timer ---------------------------------------------------------

let timer: ReturnType<typeof setTimeout> | undefined;
let onExpired: () => void = () => {};
let listening = false;

/** Times this tab's next renewal from the shared record. */
async function schedule() {
  const last = await lastRenewal();
  clearTimeout(timer);
  if (last === null) return;
  timer = setTimeout(renewOnTimer, Math.max(0, last + RENEW_AFTER_MS - Date.now()));
}

async function renewOnTimer() {
  try {
    const renewed = await renewIfOlderThan(Date.now() - RENEW_AFTER_MS);
    if (!renewed) onExpired();
  } catch {
    // The network or the server failed: try again in a minute; a data call
    // meanwhile renews on its own 401.
    clearTimeout(timer);
    timer = setTimeout(renewOnTimer, 60_000);
  }
}

/**
 * Starts the renewal timer. `expired` runs when the session ends: refused by
 * the server, or signed out in another tab.
 */
export async function startSession(expired: () => void) {
  onExpired = expired;
  if ((await lastRenewal()) === null) {
    // Opened with cookies from an earlier visit: their age is unknown, so
    // renew at the first timer tick (through the lock, like any renewal).
    await recordRenewal(Date.now() - RENEW_AFTER_MS);
  }
  await schedule();
  if (listening) return;
  listening = true;
  channel?.addEventListener("message", (event: MessageEvent<News>) => {
    if (event.data.type === "renewed") schedule();
    if (event.data.type === "signed-out") {
      clearTimeout(timer);
      onExpired();
    }
  });
  // Timers of hidden tabs are throttled: catch up when the tab shows again.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") schedule();
  });
}

/** Whether this browser holds a session record (was signed in here). */
export async function hadSession(): Promise<boolean> {
  return (await lastRenewal()) !== null;
}

/** After a sign-in or a password change: the cookies are brand new. */
export async function signedIn() {
  await recordRenewal(Date.now());
  tell({ type: "renewed" });
}

/** The session is over in this tab; `tellOthers` sends the other tabs to sign-in too. */
export async function signedOut(tellOthers = false) {
  clearTimeout(timer);
  await recordRenewal(null);
  if (tellOthers) tell({ type: "signed-out" });
}
