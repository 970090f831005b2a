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
    if (error.status === 401) return "Wrong email or password.";
  }
  return describe(error);
}

export function SignIn(props: { onSignedIn: (me: Me) => Promise<void>; expired: boolean }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submit = useSubmit();
  const signIn = (event: Event) => {
    event.preventDefault();
    submit.run(async () => props.onSignedIn(await post<Me>("/auth/login", { email: email.trim(), password })));
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
        <label for="email">Email</label>
        <input
          id="email"
          type="email"
          autocomplete="username"
          required
          autofocus
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
