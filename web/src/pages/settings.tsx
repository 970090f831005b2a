// The org's settings (admins) and the signed-in user's own account.

import { useState } from "preact/hooks";
import { get, patch, post } from "../api";
import { when } from "../format";
import { signedIn } from "../session";
import type { Me, Org, UserProfile } from "../types";
import { ErrorNote, Loading, PageHeader, useLoad, useSubmit } from "../ui";

export function OrgSettings(props: { onChanged: (org: Org) => void }) {
  const org = useLoad(() => get<Org>("/orgs/me"), "org");
  return (
    <>
      <PageHeader title="Org settings" />
      <ErrorNote error={org.error} onRetry={org.reload} />
      {org.loading && !org.data && <Loading what="the org" />}
      {org.data && (
        <OrgForm
          org={org.data}
          onSaved={(saved) => {
            org.setData(saved);
            props.onChanged(saved);
          }}
        />
      )}
    </>
  );
}

function OrgForm(props: { org: Org; onSaved: (org: Org) => void }) {
  const [name, setName] = useState(props.org.name);
  const [settings, setSettings] = useState(JSON.stringify(props.org.settings, null, 2));
  const submit = useSubmit();
  const save = (event: Event) => {
    event.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(settings || "{}");
    } catch {
      submit.fail(new Error("Settings must be valid JSON."));
      return;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      submit.fail(new Error("Settings must be a JSON object, like {\"retention\": 30}."));
      return;
    }
    submit.run(async () => {
      const saved = await patch<Org>("/orgs/me", { name: name.trim(), settings: parsed });
      props.onSaved(saved);
      setSettings(JSON.stringify(saved.settings, null, 2));
      return "Saved.";
    });
  };
  return (
    <>
      <dl class="facts card">
        <div>
          <dt>Slug (in ingest URLs)</dt>
          <dd>
            <code>{props.org.slug}</code>
          </dd>
        </div>
        <div>
          <dt>Org id</dt>
          <dd class="id">{props.org.id}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{when(props.org.created_at)}</dd>
        </div>
      </dl>
      <form class="card stack" onSubmit={save} aria-label="Org settings">
        <label for="org-name">Name</label>
        <input id="org-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        <label for="org-settings">Settings (a JSON object)</label>
        <textarea
          id="org-settings"
          rows={8}
          spellcheck={false}
          aria-describedby="org-settings-help"
          value={settings}
          onInput={(e) => setSettings(e.currentTarget.value)}
        />
        <p id="org-settings-help" class="help">
          Free-form settings for your own tools, at most 8 KB.
        </p>
        {submit.status}
        <div>
          <button type="submit" class="primary" disabled={submit.busy}>
            {submit.busy ? "Saving…" : "Save"}
          </button>
        </div>
      </form>
    </>
  );
}

export function Account(props: { me: Me; onChanged: (user: UserProfile) => void; onSignOut: () => void }) {
  const [name, setName] = useState(props.me.user.display_name ?? "");
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const profile = useSubmit();
  const password = useSubmit();
  const saveName = (event: Event) => {
    event.preventDefault();
    profile.run(async () => {
      props.onChanged(await patch<UserProfile>("/users/me", { display_name: name.trim() }));
      return "Saved.";
    });
  };
  const changePassword = (event: Event) => {
    event.preventDefault();
    if (next !== again) {
      password.fail(new Error("The new passwords do not match."));
      return;
    }
    password.run(async () => {
      await post("/users/me/password", { current_password: current, new_password: next });
      // The server renewed this session's cookies.
      await signedIn();
      setCurrent("");
      setNext("");
      setAgain("");
      return "Password changed. Your other sessions were signed out.";
    });
  };
  return (
    <>
      <PageHeader title="Account" />
      <dl class="facts card">
        <div>
          <dt>Email</dt>
          <dd>{props.me.user.email}</dd>
        </div>
        <div>
          <dt>Role</dt>
          <dd>{props.me.user.role}</dd>
        </div>
        <div>
          <dt>Organisation</dt>
          <dd>{props.me.org.name}</dd>
        </div>
      </dl>
      <div class="two-columns">
        <form class="card stack" onSubmit={saveName} aria-labelledby="profile-title">
          <h2 id="profile-title">Display name</h2>
          <label for="display-name">Name shown to your team</label>
          <input
            id="display-name"
            required
            maxLength={100}
            autocomplete="name"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
          {profile.status}
          <div>
            <button type="submit" class="primary" disabled={profile.busy}>
              Save name
            </button>
          </div>
        </form>
        <form class="card stack" onSubmit={changePassword} aria-labelledby="password-title">
          <h2 id="password-title">Change password</h2>
          <input type="email" autocomplete="username" value={props.me.user.email} hidden readOnly />
          <label for="current-password">Current password</label>
          <input
            id="current-password"
            type="password"
            required
            autocomplete="current-password"
            value={current}
            onInput={(e) => setCurrent(e.currentTarget.value)}
          />
          <label for="new-password">New password</label>
          <input
            id="new-password"
            type="password"
            required
            minLength={12}
            autocomplete="new-password"
            aria-describedby="new-password-help"
            value={next}
            onInput={(e) => setNext(e.currentTarget.value)}
          />
          <p id="new-password-help" class="help">
            At least 12 characters.
          </p>
          <label for="new-password-again">New password again</label>
          <input
            id="new-password-again"
            type="password"
            required
            minLength={12}
            autocomplete="new-password"
            value={again}
            onInput={(e) => setAgain(e.currentTarget.value)}
          />
          {password.status}
          <div>
            <button type="submit" class="primary" disabled={password.busy}>
              Change password
            </button>
          </div>
        </form>
      </div>
      <section class="card sign-out" aria-labelledby="sign-out-title">
        <h2 id="sign-out-title">Sign out</h2>
        <p>Ends this session in every tab of this browser.</p>
        <button type="button" class="secondary" onClick={props.onSignOut}>
          Sign out
        </button>
      </section>
    </>
  );
}
