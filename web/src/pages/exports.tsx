import { useEffect, useState } from "preact/hooks";
import { get, post, url } from "../api";
import { NONE, addDays, bytes, count, isDay, parseTags, when } from "../format";
import type { ExportFormat, ExportJob } from "../types";
import { DayFields, Empty, ListStatus, LoadMore, PageHeader, rangeProblem, usePaged, useSubmit } from "../ui";

/** How often running jobs are polled for progress. */
const POLL_MS = 2000;

export function Exports() {
  const list = usePaged<ExportJob>("/exports/orgs/me", { limit: 20 }, "exports");
  const { items: jobs, setItems: setJobs } = list;

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
        <ListStatus
          list={list}
          what="exports"
          empty={<Empty title="No exports yet.">Create one above; it appears here with its progress.</Empty>}
        />
        {jobs.length > 0 && <JobTable jobs={jobs} />}
        <LoadMore list={list} label="Load older exports" />
      </section>
    </>
  );
}

function NewExport(props: { onCreated: (job: ExportJob) => void }) {
  const [format, setFormat] = useState<ExportFormat>("csv");
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [tags, setTags] = useState("");
  const submit = useSubmit();
  const start = (event: Event) => {
    event.preventDefault();
    const wrong = rangeProblem(from, to);
    if (wrong) return submit.fail(new Error(wrong));
    submit.run(async () => {
      const body: Record<string, unknown> = { format };
      if (isDay(from)) body.from = `${from}T00:00:00Z`;
      if (isDay(to)) body.to = `${addDays(to, 1)}T00:00:00Z`;
      const tagList = parseTags(tags);
      if (tagList.length) body.tags = tagList;
      props.onCreated(await post<ExportJob>("/exports/orgs/me", body));
    });
  };
  return (
    <form class="card new-export" onSubmit={start} aria-labelledby="new-export-title">
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
        <DayFields id="export" what="Messages" from={from} to={to} onFrom={setFrom} onTo={setTo} />
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
      {submit.status}
      <button type="submit" class="primary" disabled={submit.busy}>
        {submit.busy ? "Starting…" : "Start export"}
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
