// The browser side of a dashboard session.
//
// The access token (a 15-minute JWT) and the refresh token live in HttpOnly
// cookies this code cannot read. Renewing means `POST /auth/refresh`, which
// rotates the refresh token: presenting one that was already rotated away
// (two tabs refreshing with the same cookie at once) makes the server revoke
// the whole session. So renewals are single-flight across every tab of this
// origin:
//
// - a Web Lock (`navigator.locks`) lets one renewal run at a time, in any tab;
// - whoever holds the lock first reads when the session was last renewed
//   (localStorage, shared by the tabs) and skips the refresh if another tab
//   already renewed it after the moment it cares about;
// - the `storage` event tells the other tabs of each renewal (they move their
//   timers) and of a sign-out (they go to the sign-in page).
//
// Every tab renews ahead of expiry on a timer; a data call that still gets a
// 401 renews once through the same lock and retries (see api.ts).

const RECORD_KEY = "chatlogger.session";
const LOCK_NAME = "chatlogger-session-renewal";
/** The server's access-token lifetime. */
export const ACCESS_TOKEN_LIFETIME_MS = 15 * 60_000;
/** Renew this long after the last renewal: well before the token expires. */
export const RENEW_AFTER_MS = 10 * 60_000;

interface SessionRecord {
  renewedAt: number;
}

function readRecord(): SessionRecord | null {
  try {
    const raw = localStorage.getItem(RECORD_KEY);
    const parsed = raw ? (JSON.parse(raw) as SessionRecord) : null;
    return parsed && typeof parsed.renewedAt === "number" ? parsed : null;
  } catch {
    return null;
  }
}

function writeRecord(renewedAt: number) {
  localStorage.setItem(RECORD_KEY, JSON.stringify({ renewedAt } satisfies SessionRecord));
}

let timer: ReturnType<typeof setTimeout> | undefined;
let onExpired: () => void = () => {};
let started = false;

/** Runs `task` alone across every tab (in this tab only, without Web Locks). */
let localQueue: Promise<unknown> = Promise.resolve();
function exclusively<T>(task: () => Promise<T>): Promise<T> {
  if (navigator.locks) {
    return navigator.locks.request(LOCK_NAME, task) as Promise<T>;
  }
  const run = localQueue.then(task, task);
  localQueue = run.catch(() => undefined);
  return run;
}

/**
 * Makes sure the session was renewed after `since` (epoch ms): by this tab
 * now, or already by another. Resolves false when the server refuses (the
 * session ended), true otherwise.
 */
export function renewIfOlderThan(since: number): Promise<boolean> {
  return exclusively(async () => {
    const record = readRecord();
    if (record && record.renewedAt > since) return true;
    const response = await fetch("/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-protection": "1" },
    });
    if (response.ok) {
      writeRecord(Date.now());
      schedule();
      return true;
    }
    if (response.status === 401) return false;
    throw new Error(`renewing the session failed: HTTP ${response.status}`);
  });
}

/** Times this tab's next renewal from the shared record. */
function schedule() {
  clearTimeout(timer);
  const record = readRecord();
  if (!record) return;
  const due = record.renewedAt + RENEW_AFTER_MS - Date.now();
  timer = setTimeout(renewOnTimer, Math.max(0, due));
}

async function renewOnTimer() {
  try {
    const renewed = await renewIfOlderThan(Date.now() - RENEW_AFTER_MS);
    if (!renewed) expire();
  } catch {
    // The network or the server failed: try again in a minute; a data call
    // meanwhile renews on its own 401.
    clearTimeout(timer);
    timer = setTimeout(renewOnTimer, 60_000);
  }
}

function expire() {
  clearTimeout(timer);
  localStorage.removeItem(RECORD_KEY);
  onExpired();
}

/**
 * Starts the renewal timer. `expired` runs when the session ends: refused by
 * the server, or signed out in another tab.
 */
export function startSession(expired: () => void) {
  onExpired = expired;
  if (!readRecord()) {
    // Opened with cookies from an earlier visit: their age is unknown, so
    // renew at the first timer tick (through the lock, like any renewal).
    writeRecord(Date.now() - RENEW_AFTER_MS);
  }
  schedule();
  if (started) return;
  started = true;
  window.addEventListener("storage", (event) => {
    if (event.key !== RECORD_KEY) return;
    if (event.newValue === null) {
      clearTimeout(timer);
      onExpired();
    } else {
      schedule();
    }
  });
  // Timers of hidden tabs are throttled: catch up when the tab shows again.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") schedule();
  });
}

/** Whether this browser holds a session record (was signed in here). */
export function hadSession(): boolean {
  return readRecord() !== null;
}

/** After a sign-in: the cookies are brand new. */
export function signedIn() {
  writeRecord(Date.now());
}

/** After a sign-out, in this tab: the others follow through `storage`. */
export function signedOut() {
  clearTimeout(timer);
  localStorage.removeItem(RECORD_KEY);
}
