import { useEffect, useState } from "preact/hooks";
import { get, post, url } from "../api";
import { NONE, addDays, bytes, count, isDay, parseTags, when } from "../format";
import type { ExportFormat, ExportJob, Paged } from "../types";
import { Empty, ErrorNote, Loading, NextPage, PageHeader, useLoad } from "../ui";

/** How often running jobs are polled for progress. */
const POLL_MS = 2000;

export function Exports() {
  const [jobs, setJobs] = useState<ExportJob[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [more, setMore] = useState<unknown>(null);
  const first = useLoad(async () => {
    const page = await get<Paged<ExportJob>>("/exports/orgs/me", { limit: 20 });
    setJobs(page.items);
    setCursor(page.next_cursor ?? null);
    return page;
  }, "exports");

  // Follow unfinished jobs until they finish.
  const unfinished = jobs.filter((job) => job.status === "queued" || job.status === "running").map((job) => job.id);
  const watching = unfinished.join(",");
  useEffect(() => {
    if (!watching) return;
    const timer = setInterval(async () => {
      try {
        const fresh = await Promise.all(watching.split(",").map((id) => get<ExportJob>(`/exports/orgs/me/${id}`)));
        setJobs((current) => current.map((job) => fresh.find((f) => f.id === job.id) ?? job));
      } catch {
        // A missed poll is retried on the next tick.
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [watching]);

  const loadMore = async () => {
    setMore(null);
    try {
      const page = await get<Paged<ExportJob>>("/exports/orgs/me", { limit: 20, cursor });
      setJobs([...jobs, ...page.items]);
      setCursor(page.next_cursor ?? null);
    } catch (failure) {
      setMore(failure);
    }
  };

  return (
    <>
      <PageHeader title="Exports" />
      <p class="lead">
        An export is one file of the org's messages, one row each with its chat's id, title and tags. Finished files can
        be downloaded for 7 days.
      </p>
      <NewExport onCreated={(job) => setJobs([job, ...jobs])} />
      <section aria-labelledby="jobs-title">
        <h2 id="jobs-title">Past and running exports</h2>
        <ErrorNote error={first.error} onRetry={first.reload} />
        {first.loading && <Loading what="exports" />}
        {!first.loading && !first.error && jobs.length === 0 && (
          <Empty title="No exports yet.">Create one above; it appears here with its progress.</Empty>
        )}
        {jobs.length > 0 && <JobTable jobs={jobs} />}
        <ErrorNote error={more} />
        {cursor && <NextPage onClick={loadMore} label="Load older exports" />}
      </section>
    </>
  );
}

function NewExport(props: { onCreated: (job: ExportJob) => void }) {
  const [format, setFormat] = useState<ExportFormat>("csv");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [tags, setTags] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    setError(null);
    if (isDay(from) && isDay(to) && from > to) {
      setError(new Error("The start date must be on or before the end date."));
      return;
    }
    setBusy(true);
    try {
      const body: Record<string, unknown> = { format };
      if (isDay(from)) body.from = `${from}T00:00:00Z`;
      if (isDay(to)) body.to = `${addDays(to, 1)}T00:00:00Z`;
      const tagList = parseTags(tags);
      if (tagList.length) body.tags = tagList;
      props.onCreated(await post<ExportJob>("/exports/orgs/me", body));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card new-export" onSubmit={submit} aria-labelledby="new-export-title">
      <h2 id="new-export-title">New export</h2>
      <div class="filters">
        <div class="field">
          <label for="export-format">Format</label>
          <select id="export-format" value={format} onChange={(e) => setFormat(e.currentTarget.value as ExportFormat)}>
            <option value="csv">CSV (spreadsheets)</option>
            <option value="json">JSON (one array)</option>
            <option value="ndjson">NDJSON (one object per line)</option>
          </select>
        </div>
        <div class="field">
          <label for="export-from">Messages from (UTC)</label>
          <input id="export-from" type="date" value={from} onInput={(e) => setFrom(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="export-to">Messages to (UTC, included)</label>
          <input id="export-to" type="date" value={to} onInput={(e) => setTo(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="export-tags">Chats tagged</label>
          <input
            id="export-tags"
            value={tags}
            placeholder="any tag"
            aria-describedby="export-tags-help"
            onInput={(e) => setTags(e.currentTarget.value)}
          />
        </div>
      </div>
      <p id="export-tags-help" class="help">
        Leave the filters empty to export everything. Tags: separated by commas; a chat with any of them is exported.
      </p>
      <ErrorNote error={error} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? "Starting…" : "Start export"}
      </button>
    </form>
  );
}

const STATUS_TEXT: Record<ExportJob["status"], string> = {
  queued: "Queued",
  running: "Running",
  completed: "Ready",
  failed: "Failed",
};

function filtersText(job: ExportJob): string {
  const parts: string[] = [];
  const { from, to, tags, chat_ids } = job.filters;
  if (from) parts.push(`from ${when(from)}`);
  if (to) parts.push(`before ${when(to)}`);
  if (tags?.length) parts.push(`tags ${tags.join(", ")}`);
  if (chat_ids?.length) parts.push(`${chat_ids.length} chats`);
  return parts.length ? parts.join("; ") : "Everything";
}

function JobTable(props: { jobs: ExportJob[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Requested</th>
            <th scope="col">Format</th>
            <th scope="col">Filters</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Rows
            </th>
            <th scope="col" class="num">
              Size
            </th>
            <th scope="col">File</th>
          </tr>
        </thead>
        <tbody>
          {props.jobs.map((job) => (
            <tr key={job.id} data-export={job.id}>
              <td>{when(job.created_at)}</td>
              <td>{job.format.toUpperCase()}</td>
              <td>{filtersText(job)}</td>
              <td>
                <span class={`status status-${job.status}`}>{STATUS_TEXT[job.status]}</span>
                {job.status === "failed" && job.error && <div class="small">{job.error}</div>}
                {job.status === "queued" && job.attempts > 0 && job.error && (
                  <div class="small">Retrying: {job.error}</div>
                )}
              </td>
              <td class="num">{count(job.rows_written)}</td>
              <td class="num">{job.bytes_written ? bytes(job.bytes_written) : NONE}</td>
              <td>
                {job.status === "completed" ? (
                  <a class="button secondary small" href={url(`/exports/orgs/me/${job.id}/download`)}>
                    Download<span class="visually-hidden"> the {job.format.toUpperCase()} export of {when(job.created_at)}</span>
                  </a>
                ) : job.status === "failed" ? (
                  <span class="muted">No file</span>
                ) : (
                  <span class="muted">Not ready yet</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
