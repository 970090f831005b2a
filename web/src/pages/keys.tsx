import { useEffect, useRef, useState } from "preact/hooks";
import { del, delAnswering, post } from "../api";
import { count, when } from "../format";
import type { ApiKey, CreatedApiKey, KeyDataDeleted, Me } from "../types";
import { ConfirmButton, CopyButton, Empty, ListStatus, LoadMore, PageHeader, usePaged, useSubmit } from "../ui";

export function Keys(props: { me: Me }) {
  const list = usePaged<ApiKey>("/orgs/me/apikeys", { limit: 50 }, "keys");
  const { items: keys, first } = list;
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const revoke = async (key: ApiKey) => {
    await del(`/orgs/me/apikeys/${key.id}`);
    // The list is the truth: re-read it for the revocation time.
    first.reload();
  };
  const [cleaned, setCleaned] = useState<string | null>(null);
  // A call checks up to 1,000 chats: go on while the API gives a cursor.
  const deleteData = async (key: ApiKey) => {
    const total = { chats: 0, messages: 0 };
    let cursor: string | null | undefined = undefined;
    do {
      const done: KeyDataDeleted = await delAnswering<KeyDataDeleted>(`/orgs/me/apikeys/${key.id}/data`, { cursor });
      total.chats += done.chats_deleted;
      total.messages += done.messages_deleted;
      cursor = done.next_cursor;
    } while (cursor);
    setCleaned(
      `Deleted ${count(total.chats)} ${total.chats === 1 ? "chat" : "chats"} and ${count(total.messages)} ${total.messages === 1 ? "message" : "messages"} logged with “${key.label}”.`,
    );
  };

  return (
    <>
      <PageHeader title="API keys" />
      <p class="lead">
        Chat plugins log chats with a key in the <code>x-organization-api-key</code> header. Keep keys on your servers,
        never in browser code. A revoked key stops working within 5 seconds.
      </p>
      {created ? (
        <NewKey created={created} slug={props.me.org.slug} onDone={() => setCreated(null)} />
      ) : (
        <CreateKey
          onCreated={(key) => {
            setCreated(key);
            list.setItems([key, ...keys]);
          }}
        />
      )}
      <section aria-labelledby="keys-title">
        <h2 id="keys-title">Keys</h2>
        {cleaned && (
          <p class="notice success" role="status">
            {cleaned}
          </p>
        )}
        <ListStatus list={list} what="keys" empty={<Empty title="No API keys yet." />} />
        {keys.length > 0 && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Label</th>
                  <th scope="col">Id</th>
                  <th scope="col">Key starts with</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.map((key) => (
                  <tr key={key.id} data-key={key.id}>
                    <td>{key.label}</td>
                    <td>
                      {/* Chats and messages show the key that logged them by this. */}
                      <code title={key.id}>…{key.id.slice(-6)}</code>
                    </td>
                    <td>
                      <code>{key.prefix}…</code>
                    </td>
                    <td>{when(key.created_at)}</td>
                    <td>{key.last_used_at ? when(key.last_used_at) : <span class="muted">Never</span>}</td>
                    <td>
                      {key.revoked_at ? (
                        <span class="status status-failed">Revoked {when(key.revoked_at)}</span>
                      ) : (
                        <span class="status status-completed">Active</span>
                      )}
                    </td>
                    <td class="actions-cell">
                      {!key.revoked_at && (
                        <ConfirmButton
                          label="Revoke"
                          ariaLabel={`Revoke the key ${key.label}`}
                          title="Revoke this key?"
                          message={
                            <p>
                              Plugins using “{key.label}” ({key.prefix}…) will be refused within 5 seconds. This cannot
                              be undone.
                            </p>
                          }
                          confirmLabel="Revoke key"
                          onConfirm={() => revoke(key)}
                          class="danger small"
                        />
                      )}
                      <ConfirmButton
                        label="Delete data"
                        ariaLabel={`Delete data the key ${key.label} logged`}
                        title="Delete what this key logged?"
                        message={
                          <>
                            <p>
                              Every chat logged with “{key.label}” ({key.prefix}…) is deleted with all its messages, and
                              every message it logged in other chats. Analytics count them out. This cannot be undone.
                            </p>
                            {!key.revoked_at && <p>Revoke the key first if it leaked: it could go on logging.</p>}
                          </>
                        }
                        confirmLabel="Delete its data"
                        onConfirm={() => deleteData(key)}
                        class="danger small"
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <LoadMore list={list} label="Load more keys" />
      </section>
    </>
  );
}

function CreateKey(props: { onCreated: (key: CreatedApiKey) => void }) {
  const [label, setLabel] = useState("");
  const submit = useSubmit();
  const create = (event: Event) => {
    event.preventDefault();
    submit.run(async () => props.onCreated(await post<CreatedApiKey>("/orgs/me/apikeys", { label: label.trim() })));
  };
  return (
    <form class="card inline-form" onSubmit={create} aria-labelledby="new-key-title">
      <h2 id="new-key-title">New key</h2>
      <div class="row">
        <div class="field grow">
          <label for="key-label">Label</label>
          <input
            id="key-label"
            required
            maxLength={100}
            placeholder="website widget"
            value={label}
            onInput={(e) => setLabel(e.currentTarget.value)}
          />
        </div>
        <button type="submit" class="primary" disabled={submit.busy}>
          {submit.busy ? "Creating…" : "Create key"}
        </button>
      </div>
      {submit.status}
    </form>
  );
}

function NewKey(props: { created: CreatedApiKey; slug: string; onDone: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <section class="card key-reveal" aria-labelledby="key-made-title">
      <h2 id="key-made-title" tabIndex={-1} ref={heading}>
        Your new key “{props.created.label}”
      </h2>
      <p>
        <strong>Copy it now: it is shown only this once.</strong> Only a hash of it is stored, so nobody can show it
        again. Lost it? Revoke it and create another.
      </p>
      <p class="secret">
        <code id="new-key-secret">{props.created.secret}</code>
      </p>
      <p>
        <CopyButton text={props.created.secret} label="Copy key" />
      </p>
      <p class="help">
        Log a chat with it: <code>POST /api/v1/orgs/{props.slug}/chats</code> with the header{" "}
        <code>x-organization-api-key</code>.
      </p>
      <button type="button" class="secondary" onClick={props.onDone}>
        I have stored the key
      </button>
    </section>
  );
}
