import { useState } from "preact/hooks";
import { ApiError, del, get, patch } from "../api";
import { NONE, count, ms, parseTags, when } from "../format";
import { BASE, HOME } from "../router";
import type { Chat, Me, Message } from "../types";
import { can } from "../types";
import { ConfirmButton, Empty, ErrorNote, ListStatus, Loading, LoadMore, PageHeader, TagList, useLoad, usePaged, useSubmit } from "../ui";

const MESSAGES_PER_PAGE = 100;

export function ChatPage(props: { id: string; me: Me; onDeleted: (message: string) => void }) {
  const chat = useLoad(() => get<Chat>(`/chats/${props.id}`), props.id);

  if (chat.error instanceof ApiError && chat.error.status === 404) {
    return (
      <>
        <PageHeader title="Chat not found" />
        <Empty title="This chat does not exist, was deleted, or is not yours to see.">
          <a href={HOME}>Back to the chats</a>
        </Empty>
      </>
    );
  }
  if (!chat.data) {
    return (
      <>
        <PageHeader title="Chat" />
        <ErrorNote error={chat.error} onRetry={chat.reload} />
        {chat.loading && <Loading what="the chat" />}
      </>
    );
  }
  const data = chat.data;
  // A user sees only their own chats, so editing their own is editing this one.
  const mayEdit = can(props.me, "edit_all_chats") || can(props.me, "edit_own_chats");
  const remove = async () => {
    await del(`/chats/${data.id}`);
    props.onDeleted(`Deleted the chat “${data.title || data.id}” and its messages.`);
  };
  return (
    <>
      <p class="breadcrumb">
        <a href={`${BASE}/chats`}>← Chats</a>
      </p>
      <PageHeader title={data.title || "Untitled chat"}>
        {can(props.me, "delete_chats") && (
          <ConfirmButton
            label="Delete chat"
            title="Delete this chat?"
            message={
              <p>
                The chat “{data.title || data.id}” and all its messages are deleted for good. Analytics stop counting
                them. This cannot be undone.
              </p>
            }
            confirmLabel="Delete chat"
            onConfirm={remove}
          />
        )}
      </PageHeader>
      <dl class="facts card">
        <div>
          <dt>Chat id</dt>
          <dd class="id">{data.id}</dd>
        </div>
        <div>
          <dt>End user</dt>
          <dd>{data.user_id ?? NONE}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{when(data.created_at)}</dd>
        </div>
        <div>
          <dt>Tags</dt>
          <dd>
            <TagList tags={data.tags} />
          </dd>
        </div>
        {Object.keys(data.metadata).length > 0 && (
          <div class="wide">
            <dt>Metadata</dt>
            <dd>
              <pre class="json">{JSON.stringify(data.metadata, null, 2)}</pre>
            </dd>
          </div>
        )}
      </dl>
      {mayEdit && <EditChat chat={data} onSaved={chat.setData} />}
      <Transcript chatId={data.id} />
    </>
  );
}

function EditChat(props: { chat: Chat; onSaved: (chat: Chat) => void }) {
  const [title, setTitle] = useState(props.chat.title ?? "");
  const [tags, setTags] = useState(props.chat.tags.join(", "));
  const submit = useSubmit();
  const save = (event: Event) => {
    event.preventDefault();
    submit.run(async () => {
      const body = { title: title.trim() || null, tags: parseTags(tags) };
      const updated = await patch<Chat>(`/chats/${props.chat.id}`, body);
      props.onSaved(updated);
      setTags(updated.tags.join(", "));
      return "Saved.";
    });
  };
  return (
    <details class="card edit">
      <summary>Edit title and tags</summary>
      <form onSubmit={save} class="stack">
        <label for="chat-title">Title</label>
        <input id="chat-title" maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
        <label for="chat-tags">Tags</label>
        <input
          id="chat-tags"
          aria-describedby="chat-tags-help"
          value={tags}
          onInput={(e) => setTags(e.currentTarget.value)}
        />
        <p id="chat-tags-help" class="help">
          Separate tags with commas; at most 20, each up to 64 characters.
        </p>
        {submit.status}
        <div>
          <button type="submit" class="primary" disabled={submit.busy}>
            {submit.busy ? "Saving…" : "Save changes"}
          </button>
        </div>
      </form>
    </details>
  );
}

function Transcript(props: { chatId: string }) {
  const list = usePaged<Message>(`/chats/${props.chatId}/messages`, { limit: MESSAGES_PER_PAGE }, props.chatId);
  const messages = list.items;
  return (
    <section aria-labelledby="transcript-title">
      <h2 id="transcript-title">Transcript</h2>
      <ListStatus list={list} what="messages" empty={<Empty title="No messages in this chat yet." />} />
      <ol class="transcript">
        {messages.map((message) => (
          <li key={message.id} class={`message role-${message.role}`}>
            <div class="message-head">
              <span class={`role-badge role-${message.role}`}>{message.role}</span>
              <time dateTime={message.created_at}>{when(message.created_at)}</time>
              <span class="message-stats">
                <span>Latency {ms(message.latency_ms)}</span>
                <span>{message.token_count === null || message.token_count === undefined ? "— tokens" : `${count(message.token_count)} tokens`}</span>
                {message.key_id && <span title={`Logged with the API key ${message.key_id}`}>Key …{message.key_id.slice(-6)}</span>}
              </span>
            </div>
            {/* Text, never HTML: Preact escapes it. */}
            <div class="content">{message.content}</div>
            {Object.keys(message.metadata).length > 0 && (
              <details class="metadata">
                <summary>Metadata</summary>
                <pre class="json">{JSON.stringify(message.metadata, null, 2)}</pre>
              </details>
            )}
          </li>
        ))}
      </ol>
      <LoadMore list={list} label="Load more messages" />
    </section>
  );
}
