import { useState } from "preact/hooks";
import { del, patch, post } from "../api";
import { when } from "../format";
import type { Me, Role, UserProfile } from "../types";
import { ConfirmButton, Empty, ListStatus, LoadMore, PageHeader, describe, usePaged, useSubmit } from "../ui";

const ROLE_TEXT: Record<Role, string> = {
  superadmin: "Superadmin (every org)",
  admin: "Admin",
  user: "User (own chats only)",
  viewer: "Viewer (read-only)",
};

export function Users(props: { me: Me }) {
  const list = usePaged<UserProfile>("/orgs/me/users", { limit: 50 }, "users");
  const { items: users, setItems: setUsers } = list;
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const replace = (user: UserProfile) => setUsers(users.map((u) => (u.id === user.id ? user : u)));
  const change = async (user: UserProfile, changes: Partial<Pick<UserProfile, "role" | "disabled">>, done: string) => {
    setNotice(null);
    try {
      replace(await patch<UserProfile>(`/orgs/me/users/${user.id}`, changes));
      setNotice({ ok: true, text: done });
    } catch (failure) {
      setNotice({ ok: false, text: `Could not change ${user.email}: ${describe(failure)}` });
    }
  };
  const roles = props.me.grantable_roles;

  return (
    <>
      <PageHeader title="Users" />
      <p class="lead">People who sign in to this dashboard for {props.me.org.name}.</p>
      <CreateUser roles={roles} org={props.me.org.slug} onCreated={(user) => setUsers([...users, user])} />
      <section aria-labelledby="users-title">
        <h2 id="users-title">Members</h2>
        {notice && (
          <p class={`notice ${notice.ok ? "success" : "error"}`} role={notice.ok ? "status" : "alert"}>
            {notice.text}
          </p>
        )}
        <ListStatus list={list} what="users" empty={<Empty title="No users." />} />
        {users.length > 0 && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">User</th>
                  <th scope="col">Role</th>
                  <th scope="col">Status</th>
                  <th scope="col">Added</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.map((user) => {
                  const self = user.id === props.me.user.id;
                  const editable = !self && roles.includes(user.role);
                  return (
                    <tr key={user.id} data-user={user.email}>
                      <td>
                        <div>{user.display_name || user.email}</div>
                        {user.display_name && <div class="small muted">{user.email}</div>}
                        {self && <div class="small muted">You</div>}
                      </td>
                      <td>
                        {editable ? (
                          <select
                            aria-label={`Role of ${user.email}`}
                            value={user.role}
                            onChange={(e) =>
                              change(
                                user,
                                { role: e.currentTarget.value as Role },
                                `${user.email} is now ${e.currentTarget.value}.`,
                              )
                            }
                          >
                            {roles.map((role) => (
                              <option key={role} value={role}>
                                {ROLE_TEXT[role]}
                              </option>
                            ))}
                          </select>
                        ) : (
                          ROLE_TEXT[user.role]
                        )}
                      </td>
                      <td>
                        {user.disabled ? (
                          <span class="status status-failed">Disabled</span>
                        ) : (
                          <span class="status status-completed">Active</span>
                        )}
                      </td>
                      <td>{when(user.created_at)}</td>
                      <td class="actions-cell">
                        {editable && (
                          <>
                            <button
                              type="button"
                              class="secondary small"
                              aria-label={`${user.disabled ? "Enable" : "Disable"} ${user.email}`}
                              onClick={() =>
                                change(
                                  user,
                                  { disabled: !user.disabled },
                                  user.disabled
                                    ? `${user.email} can sign in again.`
                                    : `${user.email} is disabled and signed out everywhere.`,
                                )
                              }
                            >
                              {user.disabled ? "Enable" : "Disable"}
                            </button>
                            <ConfirmButton
                              label="Delete"
                              ariaLabel={`Delete ${user.email}`}
                              title="Delete this user?"
                              message={
                                <p>
                                  {user.email} can no longer sign in and is signed out everywhere. Their logged chats
                                  stay. This cannot be undone.
                                </p>
                              }
                              confirmLabel="Delete user"
                              class="danger small"
                              onConfirm={async () => {
                                await del(`/orgs/me/users/${user.id}`);
                                setUsers(users.filter((u) => u.id !== user.id));
                                setNotice({ ok: true, text: `Deleted ${user.email}.` });
                              }}
                            />
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} label="Load more users" />
      </section>
    </>
  );
}

/**
 * The role a new user gets unless the admin picks another: the last of the
 * roles the API says the caller may grant, never a role of the dashboard's
 * choosing. The API lists them in one fixed order (superadmin, admin, user,
 * viewer), so for an admin it is the read-only viewer: leaving the default
 * never gives more than was meant.
 */
function defaultRole(grantable: Role[]): Role | "" {
  return grantable.at(-1) ?? "";
}

function CreateUser(props: { roles: Role[]; org: string; onCreated: (user: UserProfile) => void }) {
  const blank = { email: "", display_name: "", role: defaultRole(props.roles), password: "" };
  const [form, setForm] = useState(blank);
  const submit = useSubmit();
  const set = (name: keyof typeof blank) => (event: Event) =>
    setForm({ ...form, [name]: (event.currentTarget as HTMLInputElement).value });
  const add = (event: Event) => {
    event.preventDefault();
    submit.run(async () => {
      const user = await post<UserProfile>("/orgs/me/users", {
        email: form.email.trim(),
        role: form.role,
        password: form.password,
        display_name: form.display_name.trim() || null,
      });
      props.onCreated(user);
      setForm(blank);
      return `Added ${user.email}. They sign in to organization "${props.org}" with this email; give them their password through a safe channel.`;
    });
  };
  return (
    <form class="card" onSubmit={add} aria-labelledby="new-user-title">
      <h2 id="new-user-title">Add a user</h2>
      <div class="filters">
        <div class="field">
          <label for="user-email">Email</label>
          <input id="user-email" type="email" required autocomplete="off" value={form.email} onInput={set("email")} />
        </div>
        <div class="field">
          <label for="user-name">Display name (optional)</label>
          <input id="user-name" maxLength={100} value={form.display_name} onInput={set("display_name")} />
        </div>
        <div class="field">
          <label for="user-role">Role</label>
          <select id="user-role" required value={form.role} onChange={set("role")}>
            {props.roles.map((role) => (
              <option key={role} value={role}>
                {ROLE_TEXT[role]}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="user-password">Initial password</label>
          <input
            id="user-password"
            type="password"
            required
            minLength={12}
            autocomplete="new-password"
            aria-describedby="user-password-help"
            value={form.password}
            onInput={set("password")}
          />
        </div>
      </div>
      <p id="user-password-help" class="help">
        At least 12 characters. They can change it on their account page.
      </p>
      {submit.status}
      <button type="submit" class="primary" disabled={submit.busy}>
        {submit.busy ? "Adding…" : "Add user"}
      </button>
    </form>
  );
}
