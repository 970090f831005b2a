import { useState } from "preact/hooks";
import { get } from "../api";
import { NONE, addDays, count, isDay, when } from "../format";
import { BASE, type Location, navigate, withQuery } from "../router";
import type { ListedChat, Me, Paged } from "../types";
import { can } from "../types";
import { DayFields, Empty, ErrorNote, Loading, NextPage, PageHeader, TagList, rangeProblem, useLoad } from "../ui";

const PAGE_SIZE = 25;

interface Filters {
  tag: string;
  user: string;
  from: string;
  to: string;
}

function filtersOf(search: URLSearchParams): Filters {
  return {
    tag: search.get("tag") ?? "",
    user: search.get("user") ?? "",
    from: isDay(search.get("from")) ? search.get("from")! : "",
    to: isDay(search.get("to")) ? search.get("to")! : "",
  };
}

/** The listing's query: dates are whole UTC days, `to` included. */
function apiQuery(filters: Filters, cursor: string | null) {
  return {
    tag: filters.tag,
    user_id: filters.user,
    from: filters.from ? `${filters.from}T00:00:00Z` : undefined,
    to: filters.to ? `${addDays(filters.to, 1)}T00:00:00Z` : undefined,
    limit: PAGE_SIZE,
    cursor,
  };
}

export function Chats(props: { where: Location; me: Me; flash: string | null }) {
  const { search } = props.where;
  const filters = filtersOf(search);
  const cursor = search.get("cursor");
  const pageNumber = Math.max(1, Number(search.get("page")) || 1);
  const chats = useLoad(() => get<Paged<ListedChat>>("/chats", apiQuery(filters, cursor)), props.where.href);
  const filtered = Boolean(filters.tag || filters.user || filters.from || filters.to);

  const next = chats.data?.next_cursor
    ? withQuery(`${BASE}/chats`, { ...filters, cursor: chats.data.next_cursor, page: String(pageNumber + 1) })
    : null;

  return (
    <>
      <PageHeader title="Chats" />
      {props.flash && (
        <p class="notice success" role="status">
          {props.flash}
        </p>
      )}
      <FilterForm key={props.where.href} initial={filters} filtered={filtered} />
      <ErrorNote error={chats.error} onRetry={chats.reload} />
      {chats.loading && !chats.data && <Loading what="chats" />}
      {chats.data &&
        (chats.data.items.length === 0 ? (
          filtered || cursor ? (
            <Empty title="No chats match these filters.">Change or clear the filters to see more.</Empty>
          ) : (
            <Empty title="No chats yet.">
              {!can(props.me, "read_all_chats")
                ? "Chats logged for your email address will appear here."
                : "Chats appear here as soon as a chat plugin logs them with one of the org's API keys."}
            </Empty>
          )
        ) : (
          <ChatTable chats={chats.data.items} busy={chats.loading} />
        ))}
      <div class="pager-row">
        {cursor && (
          <p class="muted">
            Page {pageNumber} · <a href={withQuery(`${BASE}/chats`, { ...filters })}>Back to the newest</a>
          </p>
        )}
        <NextPage href={next} />
      </div>
    </>
  );
}

function FilterForm(props: { initial: Filters; filtered: boolean }) {
  const [filters, setFilters] = useState(props.initial);
  const [problem, setProblem] = useState<string | null>(null);
  const set = (name: keyof Filters) => (event: Event) =>
    setFilters({ ...filters, [name]: (event.currentTarget as HTMLInputElement).value });
  const submit = (event: Event) => {
    event.preventDefault();
    const wrong = rangeProblem(filters.from, filters.to);
    setProblem(wrong);
    if (wrong) return;
    navigate(withQuery(`${BASE}/chats`, { ...filters, tag: filters.tag.trim(), user: filters.user.trim() }));
  };
  return (
    <form class="filters card" onSubmit={submit} aria-label="Filter chats">
      <div class="field">
        <label for="filter-tag">Tag</label>
        <input id="filter-tag" value={filters.tag} onInput={set("tag")} placeholder="billing" />
      </div>
      <div class="field">
        <label for="filter-user">End user</label>
        <input id="filter-user" value={filters.user} onInput={set("user")} placeholder="visitor-42" />
      </div>
      <DayFields
        id="filter"
        from={filters.from}
        to={filters.to}
        onFrom={(from) => setFilters({ ...filters, from })}
        onTo={(to) => setFilters({ ...filters, to })}
      />
      <div class="field actions">
        <button type="submit" class="primary">
          Apply filters
        </button>
        {props.filtered && (
          <a class="button secondary" href={`${BASE}/chats`}>
            Clear
          </a>
        )}
      </div>
      <ErrorNote error={problem} class="full" />
    </form>
  );
}

function ChatTable(props: { chats: ListedChat[]; busy: boolean }) {
  return (
    <div class="table-wrap" aria-busy={props.busy}>
      <table>
        <caption class="visually-hidden">Chats, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Chat</th>
            <th scope="col">End user</th>
            <th scope="col">Tags</th>
            <th scope="col" class="num">
              Messages
            </th>
            <th scope="col">Last activity</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          {props.chats.map((chat) => (
            <tr key={chat.id}>
              <td>
                <a href={`${BASE}/chats/${chat.id}`} class="chat-link">
                  {chat.title || "Untitled chat"}
                </a>
                <div class="id">{chat.id}</div>
              </td>
              <td>{chat.user_id ?? <span class="muted">{NONE}</span>}</td>
              <td>
                <TagList tags={chat.tags} />
              </td>
              <td
                class="num"
                title={
                  !chat.message_count_exact
                    ? `At least ${count(chat.message_count)}: a listing counts long chats only so far`
                    : undefined
                }
              >
                {count(chat.message_count)}
                {!chat.message_count_exact ? "+" : ""}
              </td>
              <td>{when(chat.last_message_at)}</td>
              <td>{when(chat.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
