// The browser tests' world: a local stack of its own (chatlogger-local on a
// free port, with its own table, bucket and queues on the local AWS endpoint
// that scripts/test.sh started), data logged through the real API and the
// chatlogger-admin CLI, and Debian's Chromium driven by playwright-core over
// the DevTools protocol.

import { spawn, execFile } from "node:child_process";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = join(ROOT, "target/web-screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const LOCAL = process.env.CHATLOGGER_LOCAL ?? join(ROOT, "target/debug/chatlogger-local");
const ADMIN = process.env.CHATLOGGER_ADMIN ?? join(ROOT, "target/debug/chatlogger-admin");
const AXE = readFileSync(join(ROOT, "web/node_modules/axe-core/axe.min.js"), "utf8");

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

/** This run's resource names and the standard AWS environment. */
function stackEnvironment() {
  if (!process.env.AWS_ENDPOINT_URL) {
    throw new Error(
      "AWS_ENDPOINT_URL is not set: run the browser tests through `make test` (scripts/test.sh starts moto), " +
        "or start moto and export AWS_ENDPOINT_URL, AWS_REGION and dummy credentials first.",
    );
  }
  const run = `web-test-${Date.now().toString(36)}-${process.pid}`;
  return {
    ...process.env,
    AWS_REGION: process.env.AWS_REGION ?? "us-east-1",
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? "testing",
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? "testing",
    TABLE_NAME: run,
    EXPORT_BUCKET: `${run}-exports`,
    EXPORT_QUEUE_NAME: `${run}-exports`,
    EXPORT_DLQ_NAME: `${run}-exports-dlq`,
    RUST_LOG: process.env.RUST_LOG ?? "info",
  };
}

/**
 * Starts chatlogger-local (it provisions, seeds the demo org and serves every
 * route, the dashboard included) and reads the seeded credentials from its
 * banner, as a newcomer running `make dev` would.
 */
export async function startStack() {
  const env = stackEnvironment();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  mkdirSync(join(ROOT, "target"), { recursive: true });
  const logPath = join(ROOT, "target/web-test-local.log");
  const log = createWriteStream(logPath);
  // .env.local fills in only what is unset here (dotenvy never overrides).
  const child = spawn(LOCAL, ["--env-file", ".env.local", "--listen", `127.0.0.1:${port}`], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.pipe(log);
  let output = "";
  const ready = new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`chatlogger-local did not start in 60 s; see ${logPath}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      log.write(chunk);
      output += chunk;
      if (output.includes("chatlogger is serving every route")) {
        clearTimeout(timer);
        done();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      fail(new Error(`chatlogger-local exited (${code}) before serving; see ${logPath}`));
    });
  });
  await ready;
  const admin = /admin login:\s+(\S+) \/ (\S+)/.exec(output);
  const key = /API key:\s+(clk_\S+)/.exec(output);
  if (!admin || !key) throw new Error(`no demo credentials in the banner:\n${output}`);
  if (!output.includes(`Open the dashboard at ${base}/`)) throw new Error(`the banner names no dashboard:\n${output}`);
  return {
    base,
    env,
    slug: "demo",
    admin: { email: admin[1], password: admin[2] },
    apiKey: key[1],
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", done);
        child.kill("SIGINT");
      }),
  };
}

/** Runs chatlogger-admin with `--json` against the stack's table. */
export function adminCli(stack, args, stdin = "") {
  return new Promise((done, fail) => {
    const child = execFile(ADMIN, ["--json", ...args], { env: stack.env }, (error, stdout, stderr) => {
      if (error) fail(new Error(`chatlogger-admin ${args.join(" ")}: ${stderr || error.message}`));
      else done(JSON.parse(stdout));
    });
    child.stdin.end(stdin);
  });
}

/** Ingest API calls, as a chat plugin makes them. */
export async function ingest(stack, key, path, body) {
  const response = await fetch(`${stack.base}/api/v1/orgs/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-organization-api-key": key },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** A dashboard session outside the browser (for polling the API). */
export async function apiSession(stack, email, password, org = stack.slug) {
  const response = await fetch(`${stack.base}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-protection": "1" },
    body: JSON.stringify({ org, email, password }),
  });
  if (!response.ok) throw new Error(`sign-in as ${email}: ${response.status} ${await response.text()}`);
  const session = response.headers
    .getSetCookie()
    .map((cookie) => cookie.split(";")[0])
    .find((cookie) => cookie.startsWith("__Host-chatlogger_session="));
  return {
    get: async (path) => {
      const answer = await fetch(`${stack.base}${path}`, { headers: { cookie: session } });
      if (!answer.ok) throw new Error(`GET ${path}: ${answer.status} ${await answer.text()}`);
      return answer.json();
    },
  };
}

export async function eventually(what, check, { timeout = 20_000, every = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((wait) => setTimeout(wait, every));
  }
  throw new Error(`${what}: not within ${timeout} ms${last ? ` (${last.message})` : ""}`);
}

/**
 * Debian's Chromium, headless, in a fresh profile; nothing is downloaded.
 * (playwright-core launches it with a new temporary --user-data-dir.)
 */
export async function launchBrowser() {
  const downloads = mkdtempSync(join(tmpdir(), "chatlogger-web-downloads-"));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    downloadsPath: downloads,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const close = browser.close.bind(browser);
  browser.close = async () => {
    await close();
    rmSync(downloads, { recursive: true, force: true });
  };
  return browser;
}

/**
 * A browser profile of its own (cookies, storage) for one user. Records what
 * must never happen on any page: a CSP violation, a script error, a dialog
 * (the XSS probe would open one).
 */
export async function newContext(browser, stack, options = {}) {
  const context = await browser.newContext({
    baseURL: stack.base,
    viewport: { width: 1280, height: 860 },
    locale: "en-GB",
    timezoneId: "UTC",
    acceptDownloads: true,
    ...options,
  });
  context.problems = [];
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
    });
  });
  context.on("page", (page) => watchPage(context, page));
  return context;
}

function watchPage(context, page) {
  page.on("pageerror", (error) => context.problems.push(`script error: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (message.type() === "error" && (text.startsWith("CSP violation") || text.includes("Content Security Policy"))) {
      context.problems.push(text);
    }
  });
  page.on("dialog", (dialog) => {
    context.problems.push(`a dialog opened: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
}

/** Signs in to the demo org through the form, with the keyboard. */
export async function signIn(page, email, password, org = "demo") {
  await page.getByLabel("Organization").fill(org);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Password").press("Enter");
}

/** axe-core's serious and critical findings on the page as it is now. */
export async function accessibilityProblems(page) {
  // page.evaluate runs over the DevTools protocol, which the page's CSP does
  // not govern; a <script> tag with axe inline would be blocked, rightly.
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  const results = await page.evaluate(() =>
    window.axe.run(document, { resultTypes: ["violations"] }).then((r) =>
      r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" ")) })),
    ),
  );
  return results.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** The whole page, or only what the window shows with `{ fullPage: false }`. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  return path;
}
