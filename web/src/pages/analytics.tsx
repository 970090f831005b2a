// Loaded on demand (with uPlot): the chats page never downloads it.

import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "../api";
import { type Drawn, COLORS, bars, daily, short } from "../charts";
import { addDays, count, day, isDay, ms, todayUtc } from "../format";
import { BASE, type Location, navigate, withQuery } from "../router";
import { MESSAGE_ROLES, type Summary } from "../types";
import { DayFields, Empty, ErrorNote, Loading, PageHeader, rangeProblem, useLoad } from "../ui";

/** The API's limit: at most 366 days, both ends included. */
const MAX_DAYS = 366;
const PRESETS: [string, number][] = [
  ["7 days", 7],
  ["30 days", 30],
  ["90 days", 90],
  ["12 months", MAX_DAYS],
];

function range(search: URLSearchParams): { from: string; to: string } {
  const to = isDay(search.get("to")) ? search.get("to")! : todayUtc();
  const from = isDay(search.get("from")) ? search.get("from")! : addDays(to, -29);
  return { from, to };
}

function spanDays(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}

export default function Analytics(props: { where: Location }) {
  const { from, to } = range(props.where.search);
  const summary = useLoad(() => get<Summary>("/analytics/orgs/me/summary", { from, to }), `${from}/${to}`);
  const today = todayUtc();
  return (
    <>
      <PageHeader title="Analytics" />
      <RangeForm key={`${from}/${to}`} from={from} to={to} />
      <nav class="presets" aria-label="Quick ranges">
        {PRESETS.map(([label, days]) => {
          const href = withQuery(`${BASE}/analytics`, { from: addDays(today, 1 - days), to: today });
          const current = to === today && spanDays(from, to) === days;
          return (
            <a key={label} href={href} class="chip" aria-current={current ? "true" : undefined}>
              Last {label}
            </a>
          );
        })}
      </nav>
      <ErrorNote error={summary.error} onRetry={summary.reload} />
      {summary.loading && !summary.data && <Loading what="analytics" />}
      {summary.data && <Report summary={summary.data} stale={summary.loading} />}
    </>
  );
}

function RangeForm(props: { from: string; to: string }) {
  const [from, setFrom] = useState(props.from);
  const [to, setTo] = useState(props.to);
  const [problem, setProblem] = useState<string | null>(null);
  const submit = (event: Event) => {
    event.preventDefault();
    if (!isDay(from) || !isDay(to)) return setProblem("Pick both dates.");
    if (rangeProblem(from, to)) return setProblem(rangeProblem(from, to));
    if (spanDays(from, to) > MAX_DAYS) return setProblem(`Pick at most ${MAX_DAYS} days.`);
    setProblem(null);
    navigate(withQuery(`${BASE}/analytics`, { from, to }));
  };
  return (
    <form class="filters card" onSubmit={submit} aria-label="Date range">
      <DayFields id="range" from={from} to={to} onFrom={setFrom} onTo={setTo} required />
      <div class="field actions">
        <button type="submit" class="primary">
          Show
        </button>
      </div>
      <ErrorNote error={problem} class="full" />
    </form>
  );
}

/** Draws a chart into a box and takes it down again. */
function Chart(props: { label: string; data: unknown; draw: (host: HTMLElement) => Drawn }) {
  const host = useRef<HTMLDivElement>(null);
  // Redrawn when the data changes (`draw` is a new closure on every render).
  useEffect(() => {
    const chart = props.draw(host.current!);
    return () => chart.destroy();
  }, [props.data]);
  return <div class="chart" role="img" aria-label={props.label} ref={host} />;
}

function Report(props: { summary: Summary; stale: boolean }) {
  const s = props.summary;
  const days = s.days.map((d) => d.date);
  const busiest = s.days.reduce((best, d) => (d.messages > best.messages ? d : best), s.days[0]);
  const latency = s.latency;
  return (
    <div class="report" aria-busy={props.stale}>
      <p class="muted range-note">
        {day(s.from)} – {day(s.to)} (UTC), {s.days.length} days
      </p>
      <dl class="totals">
        <div class="total">
          <dt>Messages</dt>
          <dd data-total="messages">{count(s.totals.messages)}</dd>
        </div>
        <div class="total">
          <dt>Chats</dt>
          <dd data-total="chats">{count(s.totals.chats)}</dd>
        </div>
        <div class="total">
          <dt>Tokens</dt>
          <dd data-total="tokens">{count(s.totals.tokens)}</dd>
        </div>
        <div class="total">
          <dt>Average latency</dt>
          <dd data-total="latency">{ms(latency.average_ms)}</dd>
        </div>
      </dl>

      <section class="card chart-card" aria-labelledby="per-day">
        <h2 id="per-day">Messages and chats per day</h2>
        <Chart
          data={s}
          label={
            busiest && busiest.messages > 0
              ? `Line chart of messages and chats per day; the busiest day was ${day(busiest.date)} with ${count(busiest.messages)} messages.`
              : "Line chart of messages and chats per day: none in this range."
          }
          draw={(host) =>
            daily(host, days, [
              { label: "Messages", values: s.days.map((d) => d.messages) },
              { label: "Chats", values: s.days.map((d) => d.chats) },
            ])
          }
        />
      </section>

      <div class="chart-grid">
        <section class="card chart-card" aria-labelledby="latency">
          <h2 id="latency">Latency</h2>
          {latency.count === 0 ? (
            <Empty title="No message in this range reported a latency." />
          ) : (
            <>
              <Chart
                data={latency}
                label={`Bar chart of latency percentiles: p50 ${ms(latency.p50_ms)}, p95 ${ms(latency.p95_ms)}, p99 ${ms(latency.p99_ms)}.`}
                draw={(host) =>
                  bars(
                    host,
                    ["p50", "p95", "p99"],
                    { label: "Latency (ms)", values: [latency.p50_ms ?? 0, latency.p95_ms ?? 0, latency.p99_ms ?? 0] },
                    { color: COLORS[2], format: (v) => (v >= 1000 ? `${short(v / 1000)} s` : `${v} ms`) },
                  )
                }
              />
              <p class="chart-note">
                p50 {ms(latency.p50_ms)} · p95 {ms(latency.p95_ms)} · p99 {ms(latency.p99_ms)} ·{" "}
                {count(latency.count)} messages timed
              </p>
            </>
          )}
        </section>
        <RoleChart data={s} id="by-role" title="Messages by role" counts={s.messages_by_role} unit="messages" color={COLORS[0]} />
        <RoleChart data={s} id="tokens-by-role" title="Tokens by role" counts={s.tokens.by_role} unit="tokens" color={COLORS[1]} />
      </div>
      <div class="chart-grid wide-cards">
        <TopChart
          data={s}
          id="top-users"
          title="Top end users"
          rows={s.top_users.map((u) => [u.user_id, u.messages])}
          errorBound={s.top_users_error_bound}
          unit="messages"
          empty="No messages from identified end users in this range."
          color={COLORS[3]}
        />
        <TopChart
          data={s}
          id="top-tags"
          title="Top tags"
          rows={s.top_tags.map((t) => [t.tag, t.chats])}
          errorBound={s.top_tags_error_bound}
          unit="chats"
          empty="No tagged chats were started in this range."
          color={COLORS[1]}
        />
      </div>
    </div>
  );
}

function RoleChart(props: { data: Summary; id: string; title: string; counts: Record<string, number>; unit: string; color: string }) {
  const values = MESSAGE_ROLES.map((role) => props.counts[role] ?? 0);
  const described = MESSAGE_ROLES.map((role, i) => `${role} ${count(values[i])}`).join(", ");
  return (
    <section class="card chart-card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      <Chart
        data={props.data}
        label={`Bar chart of ${props.unit} by role: ${described}.`}
        draw={(host) => bars(host, MESSAGE_ROLES, { label: props.title, values }, { color: props.color })}
      />
      <p class="chart-note">{MESSAGE_ROLES.map((role, i) => `${role} ${count(values[i])}`).join(" · ")}</p>
    </section>
  );
}

function TopChart(props: {
  data: Summary;
  id: string; title: string; rows: [string, number][]; errorBound: number; unit: string; empty: string; color: string }) {
  return (
    <section class="card chart-card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.rows.length === 0 ? (
        <Empty title={props.empty} />
      ) : (
        <>
          <Chart
            data={props.data}
            label={`Bar chart of the ${props.title.toLowerCase()} by ${props.unit}: ${props.rows.map(([name, n]) => `${name} ${count(n)}`).join(", ")}.`}
            draw={(host) =>
              bars(
                host,
                props.rows.map(([name]) => name),
                { label: props.unit, values: props.rows.map(([, n]) => n) },
                { horizontal: true, color: props.color },
              )
            }
          />
          {props.errorBound > 0 && (
            <p class="chart-note">
              Approximate: some day had more distinct values than are tracked exactly, so each count may be up to{" "}
              {count(props.errorBound)} {props.unit} below the true one.
            </p>
          )}
          <details class="as-table">
            <summary>Show as a table</summary>
            <table class="compact">
            <thead>
              <tr>
                <th scope="col">{props.id === "top-users" ? "End user" : "Tag"}</th>
                <th scope="col" class="num">
                  {props.unit[0].toUpperCase() + props.unit.slice(1)}
                </th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map(([name, n]) => (
                <tr key={name}>
                  <td class="break">{name}</td>
                  <td class="num">{count(n)}</td>
                </tr>
              ))}
            </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}
