import { useState } from "preact/hooks";
import { ApiError, post } from "../api";
import { waitFor } from "../format";
import type { Me } from "../types";
import { describe, useSubmit } from "../ui";

function problem(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 429) {
      const wait = error.retryAfter ? `in ${waitFor(error.retryAfter)}` : "later";
      return `Too many failed sign-ins for this account or network. Sign-in is paused: try again ${wait}.`;
    }
    if (error.status === 401) return "Wrong organization, email or password.";
  }
  return describe(error);
}

// An account is an org and an address (the same address may be a user of
// several orgs), so sign-in names the org. The last one used is remembered
// on this device; a link may name it (`/app/signin?org=acme`).
const LAST_ORG = "chatlogger.org";

function initialOrg(): string {
  const linked = new URLSearchParams(window.location.search).get("org");
  if (linked) return linked;
  try {
    return window.localStorage.getItem(LAST_ORG) ?? "";
  } catch {
    return "";
  }
}

function rememberOrg(org: string) {
  try {
    window.localStorage.setItem(LAST_ORG, org);
  } catch {
    // Storage may be off (private mode): the field just starts empty.
  }
}

export function SignIn(props: { onSignedIn: (me: Me) => Promise<void>; expired: boolean }) {
  const [org, setOrg] = useState(initialOrg);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submit = useSubmit();
  const signIn = (event: Event) => {
    event.preventDefault();
    submit.run(async () => {
      const slug = org.trim().toLowerCase();
      const me = await post<Me>("/auth/login", { org: slug, email: email.trim(), password });
      rememberOrg(slug);
      await props.onSignedIn(me);
    });
  };
  const { busy, error } = submit;

  return (
    <main id="main" class="signin">
      <form class="card signin-card" onSubmit={signIn} aria-labelledby="page-title">
        <p class="brand">
          <span class="logo" aria-hidden="true" />
          chatlogger
        </p>
        <h1 id="page-title" tabIndex={-1}>
          Sign in
        </h1>
        {props.expired && !error && (
          <p class="notice info" role="status">
            Your session ended. Sign in again to go on where you were.
          </p>
        )}
        {error !== null && (
          <p class="notice error" role="alert">
            {problem(error)}
          </p>
        )}
        <label for="org">Organization</label>
        <input
          id="org"
          type="text"
          autocomplete="organization"
          autocapitalize="none"
          spellcheck={false}
          required
          maxLength={40}
          aria-describedby="org-hint"
          autofocus={org === ""}
          value={org}
          onInput={(e) => setOrg(e.currentTarget.value)}
        />
        <p id="org-hint" class="hint">
          Its short name, as in <code>acme</code>: your admin gives it with your password.
        </p>
        <label for="email">Email</label>
        <input
          id="email"
          type="email"
          autocomplete="username"
          required
          autofocus={org !== ""}
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          type="password"
          autocomplete="current-password"
          required
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        <button type="submit" class="primary wide" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
