// The dashboard in a real browser (headless Debian Chromium) against a local
// stack of its own. The tests run in order and share the data logged in
// `before`: each step builds on what the previous one left, as a user would.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  accessibilityProblems,
  adminCli,
  apiSession,
  eventually,
  ingest,
  launchBrowser,
  newContext,
  screenshot,
  signIn,
  startStack,
} from "./harness.mjs";

const PASSWORD = "browser-test-password-1";
const XSS = "<img src=x onerror=alert(1)>";
const PAGE_SIZE = 25;
const BATCH_CHATS = 27;
const KB = 1024;

let stack;
let browser;
/** What the test logged, to check the analytics against. */
const logged = { chats: 0, messages: 0, tokens: 0 };
const figures = {};

async function chat(key, slug, body, messages) {
  const created = await ingest(stack, key, `${slug}/chats`, body);
  for (const message of messages) {
    await ingest(stack, key, `${slug}/chats/${created.id}/messages`, message);
    if (slug === "demo") {
      logged.messages += 1;
      logged.tokens += message.token_count ?? 0;
    }
  }
  if (slug === "demo") logged.chats += 1;
  return created;
}

before(async () => {
  stack = await startStack();
  const key = stack.apiKey;
  await chat(key, "demo", { title: "Refund question", tags: ["billing", "vip"], user_id: "visitor-42", metadata: { page: "/pricing" } }, [
    { role: "user", content: "How do I get a refund?", token_count: 7 },
    {
      role: "assistant",
      content: "You can ask for a refund within 30 days\nfrom the Billing page.",
      latency_ms: 820,
      token_count: 45,
      metadata: { model: "gpt-test" },
    },
    { role: "user", content: XSS, token_count: 5 },
  ]);
  await chat(key, "demo", { title: "Login trouble", tags: ["support"], user_id: "visitor-7" }, [
    { role: "user", content: "I can't sign in", token_count: 4 },
    { role: "assistant", content: "Reset your password from the sign-in page.", latency_ms: 640, token_count: 20 },
  ]);
  await chat(key, "demo", { title: "Member question", tags: ["internal"], user_id: "member@demo.local" }, [
    { role: "user", content: "Where is the handbook?", token_count: 6 },
  ]);
  for (let n = 1; n <= BATCH_CHATS; n++) {
    await chat(key, "demo", { title: `Batch chat ${n}`, tags: ["batch"], user_id: `visitor-${100 + n}` }, [
      { role: "user", content: `Hello ${n}`, latency_ms: 100 + 10 * n, token_count: 3 },
    ]);
  }
  for (const [email, role] of [
    ["viewer@demo.local", "viewer"],
    ["member@demo.local", "user"],
    ["root@demo.local", "superadmin"],
  ]) {
    await adminCli(stack, ["user", "create", "--org", "demo", "--email", email, "--role", role, "--password-stdin"], `${PASSWORD}\n`);
  }
  await adminCli(stack, ["org", "create", "--name", "Acme", "--slug", "acme"]);
  const acme = await adminCli(stack, ["apikey", "create", "--org", "acme", "--label", "acme widget"]);
  await chat(acme.key, "acme", { title: "Acme onboarding", tags: ["onboarding"] }, [{ role: "user", content: "Hi from Acme" }]);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  if (Object.keys(figures).length) console.log(`dashboard figures: ${JSON.stringify(figures)}`);
});

/** No CSP violation, script error or dialog happened in the context. */
function noProblems(context) {
  assert.deepEqual(context.problems, [], "problems on the page");
}

async function expectAccessible(page, name) {
  const problems = await accessibilityProblems(page);
  assert.deepEqual(problems, [], `axe found serious or critical problems on ${name}`);
}

/** A browser profile of its own, signed in as this user, on the chats page. */
async function signedIn(email, password) {
  const context = await newContext(browser, stack);
  const page = await context.newPage();
  await page.goto("/app/chats");
  await signIn(page, email, password);
  await page.getByRole("heading", { exact: true, name: "Chats" }).waitFor();
  return { context, page };
}

/** Waits until the chats list shows exactly these titles, in this order. */
async function expectChats(page, titles) {
  await eventually(`the chats ${titles.join(", ")}`, async () => {
    const shown = await page.locator(".chat-link").allInnerTexts();
    return shown.length === titles.length && shown.every((title, i) => title === titles[i]);
  });
}

/** Presses Tab until the focused element matches, as a keyboard user would. */
async function tabTo(page, describe, matches, limit = 40) {
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate(matches)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`Tab never reached ${describe}`);
}

/** A year in which every day was busy: what the summary API answers for one. */
function busyYear(from, to) {
  const days = [];
  for (let day = new Date(`${from}T00:00:00Z`); day <= new Date(`${to}T00:00:00Z`); day.setUTCDate(day.getUTCDate() + 1)) {
    const i = days.length;
    const messages = 400 + Math.round(250 * Math.sin(i / 9)) + (i % 7) * 35;
    days.push({ date: day.toISOString().slice(0, 10), messages, chats: Math.round(messages / 6) });
  }
  const sum = (key) => days.reduce((total, day) => total + day[key], 0);
  const messages = sum("messages");
  const byRole = { user: Math.round(messages * 0.48), assistant: Math.round(messages * 0.48), system: Math.round(messages * 0.03), tool: 0 };
  byRole.tool = messages - byRole.user - byRole.assistant - byRole.system;
  const tokens = { user: byRole.user * 30, assistant: byRole.assistant * 120, system: byRole.system * 200, tool: byRole.tool * 60 };
  return {
    org_id: "01JD8Z3K4M5N6P7Q8R9S0T1V2W",
    from,
    to,
    totals: { messages, chats: sum("chats"), tokens: Object.values(tokens).reduce((a, b) => a + b, 0) },
    days,
    messages_by_role: byRole,
    tokens: { total: Object.values(tokens).reduce((a, b) => a + b, 0), by_role: tokens },
    latency: { count: byRole.assistant, average_ms: 912.4, p50_ms: 704, p95_ms: 2304, p99_ms: 4608, resolution: "histogram" },
    top_users: Array.from({ length: 10 }, (_, i) => ({ user_id: `customer-${1000 + i}@example.com`, messages: 900 - i * 70 })),
    top_tags: Array.from({ length: 10 }, (_, i) => ({ tag: ["billing", "support", "sales", "onboarding", "bug", "refund", "vip", "feedback", "api", "mobile"][i], chats: 2000 - i * 150 })),
    // Busy days have more end users than the exact top list tracks.
    top_users_error_bound: 37,
    top_tags_error_bound: 0,
  };
}

describe("serving", { timeout: 180_000 }, () => {
  test("every page is the app's HTML with a strict CSP and no inline script; assets are immutable", async () => {
    for (const path of ["/app/chats", "/app/signin", "/app/analytics", "/app/chats/01JD8Z3K4M5N6P7Q8R9S0T1V2W", "/app/nope"]) {
      const response = await fetch(`${stack.base}${path}`, { headers: { "accept-encoding": "gzip, br" } });
      assert.equal(response.status, 200, path);
      const csp = response.headers.get("content-security-policy");
      assert.ok(csp, `${path}: no CSP`);
      for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) {
        assert.ok(csp.includes(directive), `${path}: CSP lacks ${directive}`);
      }
      assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"), csp);
      assert.equal(response.headers.get("cache-control"), "no-store");
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      assert.equal(response.headers.get("referrer-policy"), "no-referrer");
      const html = await response.text();
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      assert.ok(scripts.length > 0, "the page loads a script");
      for (const [, attributes, body] of scripts) {
        assert.match(attributes, /\bsrc="\/app\/assets\//, "scripts come from this origin's assets");
        assert.equal(body.trim(), "", "no inline script");
      }
      assert.doesNotMatch(html, /\son[a-z]+=/i, "no inline event handlers");
      const asset = /src="(\/app\/assets\/[^"]+\.js)"/.exec(html)[1];
      const file = await fetch(`${stack.base}${asset}`, { headers: { "accept-encoding": "gzip, br" } });
      assert.equal(file.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.match(asset, /-[A-Za-z0-9_-]{8}\.js$/, "hashed name");
    }
    const root = await fetch(`${stack.base}/`, { redirect: "manual" });
    assert.ok([302, 303, 307].includes(root.status));
    assert.equal(root.headers.get("location"), "/app/chats");
    // The API keeps its own paths: GET /chats is still JSON.
    const chats = await fetch(`${stack.base}/chats`);
    assert.equal(chats.status, 401);
    assert.match(chats.headers.get("content-type"), /application\/json/);
  });
});

describe("an admin", { timeout: 180_000 }, () => {
  let context;
  let page;
  before(async () => {
    context = await newContext(browser, stack);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.base });
    page = await context.newPage();
  });
  after(() => context.close());

  test("signs in with the keyboard alone and lands on the chats", async () => {
    await page.goto("/");
    await page.waitForURL(/\/app\/signin\?next=%2Fapp%2Fchats$/);
    await page.getByRole("heading", { exact: true, name: "Sign in" }).waitFor();
    await expectAccessible(page, "sign-in");
    await screenshot(page, "01-sign-in");
    // On a first visit the org field has focus; nothing but keys from here.
    assert.equal(await page.evaluate(() => document.activeElement?.id), "org");
    await page.keyboard.type(stack.slug);
    await page.keyboard.press("Tab");
    await page.keyboard.type(stack.admin.email);
    await page.keyboard.press("Tab");
    await page.keyboard.type(stack.admin.password);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/app\/chats$/);
    await page.getByRole("heading", { exact: true, name: "Chats" }).waitFor();
    noProblems(context);
  });

  test("browses the chats page by page, filters them and opens one; back and forward work", async () => {
    const rows = page.locator("tbody tr");
    await eventually("the first page", async () => (await rows.count()) === PAGE_SIZE);
    // Newest first: the last batch chat leads.
    assert.equal(await rows.first().locator(".chat-link").innerText(), `Batch chat ${BATCH_CHATS}`);
    const firstRow = await rows.first().innerText();
    assert.match(firstRow, /visitor-127/);
    assert.match(firstRow, /batch/);
    await expectAccessible(page, "chats");
    await screenshot(page, "02-chats");

    await page.getByRole("link", { name: "Next page →" }).click();
    await page.waitForURL(/cursor=.*page=2/);
    await eventually("the second page", async () => (await rows.count()) === logged.chats - PAGE_SIZE);
    assert.equal(await rows.last().locator(".chat-link").innerText(), "Refund question");
    assert.match(await page.locator(".pager-row").innerText(), /Page 2/);
    await page.goBack();
    await page.waitForURL(/\/app\/chats$/);
    await eventually("the first page again", async () => (await rows.count()) === PAGE_SIZE);

    // Filters: by tag, by end user, by date range.
    await page.getByRole("textbox", { name: "Tag", exact: true }).fill("billing");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/tag=billing/);
    await expectChats(page, ["Refund question"]);
    // Its three messages, and when the newest was logged.
    const refund = rows.first().locator("td");
    assert.equal(await refund.nth(3).innerText(), "3", "the message count");
    assert.notEqual(await refund.nth(4).innerText(), "—", "the last activity");
    await screenshot(page, "03-chats-filtered");

    await page.getByRole("textbox", { name: "Tag", exact: true }).fill("");
    await page.getByLabel("End user").fill("visitor-7");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.waitForURL(/user=visitor-7$/);
    await expectChats(page, ["Login trouble"]);

    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    await page.goto(`/app/chats?from=${yesterday}&to=${yesterday}`);
    await page.getByText("No chats match these filters.").waitFor();
    await page.goto(`/app/chats?tag=billing&from=${today}&to=${today}`);
    await expectChats(page, ["Refund question"]);

    // Open it; the browser's back returns to the filtered list.
    await rows.first().locator(".chat-link").click();
    await page.waitForURL(/\/app\/chats\/[0-9A-Z]{26}$/);
    await page.getByRole("heading", { exact: true, name: "Refund question" }).waitFor();
    const messages = page.locator(".transcript > li");
    await eventually("the transcript", async () => (await messages.count()) === 3);
    await page.goBack();
    await page.waitForURL(/tag=billing&from=/);
    assert.equal(await page.getByRole("textbox", { name: "Tag", exact: true }).inputValue(), "billing");
    await page.goForward();
    await page.getByRole("heading", { exact: true, name: "Refund question" }).waitFor();
    noProblems(context);
  });

  test("reads a transcript: roles, latency, tokens, metadata, and HTML shown as text", async () => {
    const messages = page.locator(".transcript > li");
    await eventually("the transcript", async () => (await messages.count()) === 3);
    const second = messages.nth(1);
    assert.match(await second.locator(".role-badge").innerText(), /assistant/i);
    const head = await second.locator(".message-head").innerText();
    assert.match(head, /820 ms/);
    assert.match(head, /45 tokens/);
    // The key that logged it (its id's end, as the API keys page shows it).
    assert.match(head, /Key …[0-9A-Z]{6}/);
    assert.equal(await second.locator(".content").innerText(), "You can ask for a refund within 30 days\nfrom the Billing page.");
    await second.getByText("Metadata").click();
    assert.match(await second.locator("pre").innerText(), /"model": "gpt-test"/);
    // The XSS probe: shown as its text, never parsed into an element.
    const probe = messages.nth(2).locator(".content");
    assert.equal(await probe.innerText(), XSS);
    assert.equal(await page.locator('img[src="x"]').count(), 0);
    assert.equal(await probe.evaluate((node) => node.children.length), 0);
    assert.match(await page.locator(".facts").innerText(), /visitor-42/);
    assert.match(await page.locator(".facts").innerText(), /"page": "\/pricing"/);
    await expectAccessible(page, "chat");
    await screenshot(page, "04-chat");
    noProblems(context);
  });

  test("edits the chat's title and tags", async () => {
    await page.getByText("Edit title and tags").click();
    await page.getByLabel("Title").fill("Refund question (escalated)");
    await page.getByRole("textbox", { name: "Tags", exact: true }).fill("billing, vip, escalated, vip");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Saved.").waitFor();
    await page.getByRole("heading", { exact: true, name: "Refund question (escalated)" }).waitFor();
    assert.deepEqual(await page.locator(".facts .tag").allInnerTexts(), ["billing", "vip", "escalated"]);
    await expectAccessible(page, "chat editing");
    await screenshot(page, "05-chat-edited");
    // What the server stored, after a reload.
    await page.reload();
    await page.getByRole("heading", { exact: true, name: "Refund question (escalated)" }).waitFor();
    assert.deepEqual(await page.locator(".facts .tag").allInnerTexts(), ["billing", "vip", "escalated"]);
    await page.goto("/app/chats?tag=escalated");
    await expectChats(page, ["Refund question (escalated)"]);
    noProblems(context);
  });

  test("sees analytics totals that match what was logged", async () => {
    // The aggregator follows the table's stream; wait until it has caught up.
    const api = await apiSession(stack, stack.admin.email, stack.admin.password);
    await eventually(
      "the aggregates",
      async () => {
        const { totals } = await api.get("/analytics/orgs/me/summary");
        return totals.messages === logged.messages && totals.chats === logged.chats && totals.tokens === logged.tokens;
      },
      { timeout: 30_000 },
    );
    await page.getByRole("link", { name: "Analytics" }).click();
    await page.waitForURL(/\/app\/analytics$/);
    await page.locator('[data-total="messages"]').waitFor();
    const total = (name) => page.locator(`[data-total="${name}"]`).innerText();
    const number = (value) => value.toLocaleString("en-GB");
    assert.equal(await total("messages"), number(logged.messages));
    assert.equal(await total("chats"), number(logged.chats));
    assert.equal(await total("tokens"), number(logged.tokens));
    // Every chart is drawn: per day, latency, two by role, top users, top tags.
    await eventually("six charts", async () => (await page.locator(".chart canvas").count()) === 6);
    const topTags = page.locator("#top-tags").locator("..");
    await topTags.getByText("Show as a table").click();
    assert.match(await topTags.locator("table").innerText(), /batch\s+27/);
    assert.match(await page.locator("#by-role").locator("..").innerText(), /user 31 · assistant 2/);
    await expectAccessible(page, "analytics");
    await screenshot(page, "06-analytics");
    noProblems(context);
  });

  test("renders 366 days of analytics in under 300 ms of script time", async () => {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const scriptSeconds = async () =>
      (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "ScriptDuration").value;
    const showing = (days) =>
      page.locator('.report[aria-busy="false"] .range-note', { hasText: new RegExp(`, ${days} days$`) }).waitFor();
    // Script time (the browser's own count) from the click on "Last 12
    // months" until the year's report and its six charts are drawn.
    const renderYear = async () => {
      const before = await scriptSeconds();
      await page.getByRole("link", { name: "Last 12 months" }).click();
      await showing(366);
      // Charts are drawn in effects, which run after the next frame.
      await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0))));
      assert.equal(await page.locator(".chart canvas").count(), 6);
      return Math.round(((await scriptSeconds()) - before) * 10_000) / 10;
    };
    // 1. The org's real year, from the API (everything was logged today).
    const real = await renderYear();
    assert.equal(await page.getByText(/^Approximate/).count(), 0, "the logged year's top lists are exact");
    // 2. A busy year: every day has traffic, ten top users and tags. The
    //    ingest API stamps messages with the current time, so such a year
    //    cannot be logged here; the API's answer is replaced in the browser.
    await page.getByRole("link", { name: "Last 30 days" }).click();
    await showing(30);
    await page.route("**/analytics/orgs/me/summary?*", (route) => {
      const url = new URL(route.request().url());
      route.fulfill({ json: busyYear(url.searchParams.get("from"), url.searchParams.get("to")) });
    });
    const busy = await renderYear();
    // An approximate top list says how far off it may be; an exact one says nothing.
    const approximate = (id) => page.locator(`#${id}`).locator("..").getByText(/^Approximate/);
    assert.match(await approximate("top-users").innerText(), /up to 37 messages below/);
    assert.equal(await approximate("top-tags").count(), 0);
    await page.unroute("**/analytics/orgs/me/summary?*");
    figures.analytics_366_days_script_ms = { logged_year: real, busy_year: busy };
    assert.ok(real < 300, `the logged year took ${real} ms of script`);
    assert.ok(busy < 300, `the busy year took ${busy} ms of script`);
    await screenshot(page, "07-analytics-busy-year");
    // The README's picture (web/dashboard.png is this one, colour-quantised).
    await screenshot(page, "readme-dashboard", { fullPage: false });
    noProblems(context);
  });

  test("creates an export, follows its progress and downloads the file", async () => {
    await page.getByRole("link", { name: "Exports" }).click();
    await page.getByRole("heading", { exact: true, name: "Exports" }).waitFor();
    await page.getByText("No exports yet.").waitFor();
    await expectAccessible(page, "exports (empty)");
    await page.getByLabel("Format").selectOption("csv");
    await page.getByLabel("Chats tagged").fill("billing, support");
    await page.getByRole("button", { name: "Start export" }).click();
    const row = page.locator("tbody tr").first();
    await row.getByText(/Queued|Running|Ready/).waitFor();
    assert.match(await row.innerText(), /tags billing, support/);
    await row.getByText("Ready", { exact: true }).waitFor({ timeout: 30_000 });
    assert.equal(await row.locator("td.num").first().innerText(), "5", "five messages in billing and support chats");
    await expectAccessible(page, "exports");
    await screenshot(page, "08-exports");
    const [download] = await Promise.all([page.waitForEvent("download"), row.getByRole("link", { name: /Download/ }).click()]);
    assert.match(download.suggestedFilename(), /^chatlogger-demo-[0-9a-z]{26}\.csv$/i);
    const csv = readFileSync(await download.path(), "utf8");
    const lines = csv.trimEnd().split("\r\n");
    assert.equal(lines[0], "\"chat_id\",\"chat_title\",\"tags\",\"message_id\",\"role\",\"content\",\"latency_ms\",\"token_count\",\"created_at\",\"metadata\",\"key_id\"");
    assert.equal(lines.length, 1 + 5);
    assert.ok(csv.includes("How do I get a refund?"));
    assert.ok(csv.includes(XSS));
    assert.ok(csv.includes("Reset your password from the sign-in page."));
    noProblems(context);
  });

  test("creates an API key, copies it, and revokes it after a confirmation, by keyboard", async () => {
    await page.getByRole("link", { name: "API keys" }).click();
    await page.getByRole("heading", { exact: true, name: "API keys", level: 1 }).waitFor();
    await page.locator("tbody tr").first().waitFor();
    await expectAccessible(page, "API keys");
    await tabTo(page, "the label field", () => document.activeElement?.id === "key-label");
    await page.keyboard.type("browser test key");
    await page.keyboard.press("Enter");
    const secret = await page.locator("#new-key-secret").innerText();
    assert.match(secret, /^clk_[A-Za-z0-9_-]{43}$/);
    await screenshot(page, "09-key-created");
    await expectAccessible(page, "a new key");
    await tabTo(page, "Copy key", () => document.activeElement?.textContent === "Copy key");
    await page.keyboard.press("Enter");
    await page.getByText("Copied.").waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
    // The key shown is the real one: a plugin can log with it.
    await ingest(stack, secret, "demo/chats", { title: "Logged with the new key" });
    await tabTo(page, "the done button", () => document.activeElement?.textContent === "I have stored the key");
    await page.keyboard.press("Enter");
    assert.equal(await page.locator("#new-key-secret").count(), 0, "shown once");
    const row = page.locator("tbody tr", { hasText: "browser test key" });
    assert.match(await row.innerText(), new RegExp(`${secret.slice(0, 8)}`));
    assert.match(await row.innerText(), /Active/);

    // Revoke: the confirmation can be cancelled, then confirmed, by keyboard.
    const revoke = () => document.activeElement?.getAttribute("aria-label") === "Revoke the key browser test key";
    await tabTo(page, "the key's revoke button", revoke);
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "Revoke this key?" });
    await dialog.waitFor();
    await expectAccessible(page, "the revoke confirmation");
    await screenshot(page, "10-key-revoke-confirm");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Cancel");
    await page.keyboard.press("Enter");
    await dialog.waitFor({ state: "hidden" });
    assert.match(await row.innerText(), /Active/);
    await tabTo(page, "the key's revoke button", revoke);
    await page.keyboard.press("Enter");
    await dialog.waitFor();
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Revoke key");
    await page.keyboard.press("Enter");
    await row.getByText(/Revoked/).waitFor();
    // A revoked key stops working within the cache bound (5 s).
    await eventually(
      "the revoked key refused",
      async () => {
        try {
          await ingest(stack, secret, "demo/chats", { title: "Must be refused" });
          return false;
        } catch (error) {
          return /401/.test(error.message);
        }
      },
      { timeout: 10_000, every: 500 },
    );

    // What the leaked key logged goes too: its one chat.
    await row.getByRole("button", { name: "Delete data the key browser test key logged" }).click();
    const cleanup = page.getByRole("dialog", { name: "Delete what this key logged?" });
    await cleanup.waitFor();
    await expectAccessible(page, "the key data confirmation");
    await cleanup.getByRole("button", { name: "Delete its data" }).click();
    // Its first chat, and those it logged before ingest refused it (up to 5 s).
    await page.getByText(/^Deleted \d+ chats? and 0 messages logged with “browser test key”\.$/).waitFor();
    await page.getByRole("link", { name: "Chats" }).click();
    await page.locator("tbody tr").first().waitFor();
    assert.equal(await page.getByText("Logged with the new key").count(), 0, "the key's chat is gone");
    assert.equal(await page.getByText("Must be refused").count(), 0, "and those it logged before the refusal");
    noProblems(context);
  });

  test("manages users: add, change role, disable, delete with a confirmation", async () => {
    await page.getByRole("link", { name: "Users" }).click();
    await page.getByRole("heading", { exact: true, name: "Users", level: 1 }).waitFor();
    await page.locator('tr[data-user="viewer@demo.local"]').waitFor();
    // The roles GET /users/me says an admin may grant: never superadmin.
    const offered = await page.getByLabel("Role", { exact: true }).locator("option").evaluateAll((options) => options.map((o) => o.value));
    assert.deepEqual(offered, ["admin", "user", "viewer"]);
    // Preselected: the last of them, the read-only viewer (never a role the
    // API did not offer); the new user gets it when nobody picks another.
    assert.equal(await page.getByLabel("Role", { exact: true }).inputValue(), "viewer");
    await page.getByLabel("Email").fill("temp@demo.local");
    await page.getByLabel("Display name (optional)").fill("Temporary Tester");
    await page.getByLabel("Initial password").fill(PASSWORD);
    await page.getByRole("button", { name: "Add user" }).click();
    await page.getByText("Added temp@demo.local.", { exact: false }).waitFor();
    const row = page.locator('tr[data-user="temp@demo.local"]');
    assert.equal(await page.getByLabel("Role of temp@demo.local").inputValue(), "viewer");
    await page.getByLabel("Role of temp@demo.local").selectOption("user");
    await page.getByText("temp@demo.local is now user.").waitFor();
    await page.getByRole("button", { name: "Disable temp@demo.local" }).click();
    await row.getByText("Disabled").waitFor();
    await expectAccessible(page, "users");
    await screenshot(page, "11-users");
    await page.getByRole("button", { name: "Delete temp@demo.local" }).click();
    await page.getByRole("dialog", { name: "Delete this user?" }).getByRole("button", { name: "Delete user" }).click();
    await page.getByText("Deleted temp@demo.local.").waitFor();
    assert.equal(await row.count(), 0);
    noProblems(context);
  });

  test("changes the org's settings and their own display name", async () => {
    await page.getByRole("link", { name: "Org settings" }).click();
    await page.getByLabel("Name").fill("Demo Inc.");
    await page.getByLabel("Settings (a JSON object)").fill("not json");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Settings must be valid JSON.").waitFor();
    await page.getByLabel("Settings (a JSON object)").fill('{"retention_days": 30}');
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByText("Saved.").waitFor();
    assert.equal(await page.locator(".org-name").innerText(), "Demo Inc.");
    await expectAccessible(page, "org settings");
    await screenshot(page, "12-org-settings");

    await page.getByRole("link", { name: stack.admin.email }).click();
    await page.getByRole("heading", { exact: true, name: "Account" }).waitFor();
    await page.getByLabel("Name shown to your team").fill("Ada Admin");
    await page.getByRole("button", { name: "Save name" }).click();
    await page.getByRole("link", { name: "Ada Admin" }).waitFor();
    await expectAccessible(page, "account");
    await screenshot(page, "13-account");
    noProblems(context);
  });

  test("deletes a chat after a confirmation", async () => {
    await page.goto("/app/chats?tag=support");
    await page.getByRole("link", { name: "Login trouble" }).click();
    await page.getByRole("button", { name: "Delete chat" }).click();
    const dialog = page.getByRole("dialog", { name: "Delete this chat?" });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await page.getByRole("heading", { exact: true, name: "Login trouble" }).waitFor();
    await page.getByRole("button", { name: "Delete chat" }).click();
    await dialog.getByRole("button", { name: "Delete chat" }).click();
    await page.waitForURL(/\/app\/chats$/);
    await page.getByText("Deleted the chat “Login trouble” and its messages.").waitFor();
    await page.goto("/app/chats?tag=support");
    await page.getByText("No chats match these filters.").waitFor();
    noProblems(context);
  });
});

describe("roles", { timeout: 180_000 }, () => {
  test("a viewer sees no admin pages and cannot edit or delete; changes their password", async () => {
    const { context, page } = await signedIn("viewer@demo.local", PASSWORD);
    const nav = page.getByRole("navigation", { name: "Main" });
    assert.deepEqual(await nav.getByRole("link").allInnerTexts(), ["Chats", "Analytics", "Exports"]);
    for (const path of ["/app/keys", "/app/users", "/app/org"]) {
      await page.goto(path);
      await page.getByRole("heading", { exact: true, name: "No access" }).waitFor();
    }
    await expectAccessible(page, "no access");
    await screenshot(page, "14-viewer-no-access");
    await page.goto("/app/chats?tag=billing");
    await page.locator(".chat-link").first().click();
    await page.locator(".transcript > li").first().waitFor();
    assert.equal(await page.getByRole("button", { name: "Delete chat" }).count(), 0);
    assert.equal(await page.getByText("Edit title and tags").count(), 0);

    await page.goto("/app/account");
    await page.getByLabel("Current password").fill(PASSWORD);
    await page.getByLabel("New password", { exact: true }).fill(`${PASSWORD}-new`);
    await page.getByLabel("New password again").fill(`${PASSWORD}-new`);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByText("Password changed.", { exact: false }).waitFor();
    await page.goto("/app/exports");
    await page.getByRole("heading", { exact: true, name: "Exports" }).waitFor();
    noProblems(context);
    await context.close();
    await apiSession(stack, "viewer@demo.local", `${PASSWORD}-new`);
  });

  test("a user sees only their own chats, and no org-wide pages", async () => {
    const { context, page } = await signedIn("member@demo.local", PASSWORD);
    await expectChats(page, ["Member question"]);
    const nav = page.getByRole("navigation", { name: "Main" });
    assert.deepEqual(await nav.getByRole("link").allInnerTexts(), ["Chats"]);
    await page.goto("/app/analytics");
    await page.getByRole("heading", { exact: true, name: "No access" }).waitFor();
    noProblems(context);
    await context.close();
  });

  test("a superadmin switches to another org and sees its chats", async () => {
    const { context, page } = await signedIn("root@demo.local", PASSWORD);
    const orgs = page.getByLabel("Org", { exact: true });
    await orgs.locator("option", { hasText: "Acme (acme)" }).waitFor({ state: "attached" });
    await orgs.selectOption({ label: "Acme (acme)" });
    await expectChats(page, ["Acme onboarding"]);
    await page.getByRole("link", { name: "API keys" }).click();
    await page.locator("tbody tr", { hasText: "acme widget" }).waitFor();
    await expectAccessible(page, "superadmin");
    await screenshot(page, "15-superadmin-acme");
    noProblems(context);
    await context.close();
  });
});

describe("sessions", { timeout: 180_000 }, () => {
  /** Counts the refreshes a context sends. */
  function countRefreshes(context) {
    const counter = { refreshes: 0 };
    context.on("request", (request) => {
      if (request.url().endsWith("/auth/refresh")) counter.refreshes += 1;
    });
    return counter;
  }

  /** Signs in in one tab and opens a second on another page. */
  async function twoTabs(context) {
    const first = await context.newPage();
    await first.goto("/app/chats");
    await signIn(first, stack.admin.email, stack.admin.password);
    await first.getByRole("heading", { exact: true, name: "Chats" }).waitFor();
    const second = await context.newPage();
    await second.goto("/app/exports");
    await second.getByRole("heading", { exact: true, name: "Exports" }).waitFor();
    return [first, second];
  }

  const status = (page) => page.evaluate(() => fetch("/users/me").then((r) => r.status));

  test("two tabs whose renewal timers fire together send one refresh and stay signed in", async () => {
    const context = await newContext(browser, stack);
    const counter = countRefreshes(context);
    // Fake timers: the renewal, 10 minutes after sign-in, without the wait.
    await context.clock.install();
    const [first, second] = await twoTabs(context);
    // (Opening the app signed out tried one refresh, which found no session.)
    counter.refreshes = 0;
    await context.clock.fastForward("10:30");
    await eventually("a renewal", async () => counter.refreshes >= 1);
    await new Promise((wait) => setTimeout(wait, 1500));
    assert.equal(counter.refreshes, 1, "one refresh for both tabs");
    assert.equal(await status(first), 200);
    assert.equal(await status(second), 200);
    noProblems(context);
    await context.close();
  });

  describe("two tabs of one session", () => {
    let context;
    let first;
    let second;
    let counter;
    before(async () => {
      context = await newContext(browser, stack);
      counter = countRefreshes(context);
      [first, second] = await twoTabs(context);
    });
    after(() => context.close());

    test("meeting an expired token at once, they send one refresh and stay signed in", async () => {
      // The access token is replaced by one the server refuses, as it
      // refuses an expired one. Both tabs reload at once: both get a 401 on
      // their first call; one renews, the other sees that and just retries.
      counter.refreshes = 0;
      const host = new URL(stack.base).hostname;
      await context.addCookies([
        { name: "__Host-chatlogger_session", value: "expired", domain: host, path: "/", secure: true, httpOnly: true, sameSite: "Strict" },
      ]);
      const refused = [];
      for (const page of [first, second]) {
        page.on("response", (response) => {
          if (response.url().endsWith("/users/me") && response.status() === 401) refused.push(page);
        });
      }
      await Promise.all([first.reload(), second.reload()]);
      await first.getByRole("heading", { exact: true, name: "Chats" }).waitFor();
      await second.getByRole("heading", { exact: true, name: "Exports" }).waitFor();
      await eventually("the first tab's chats", async () => (await first.locator("tbody tr").count()) > 0);
      assert.equal(refused.length, 2, "both tabs met the refused token");
      assert.equal(counter.refreshes, 1, "one refresh for both tabs");
      assert.equal(await status(first), 200);
      assert.equal(await status(second), 200);
      assert.match(first.url(), /\/app\/chats$/);
      assert.match(second.url(), /\/app\/exports$/);
      noProblems(context);
    });

    test("an ended session lands on sign-in, and signing in returns to the page", async () => {
      await context.clearCookies();
      const range = "/app/analytics?from=2026-01-01&to=2026-01-31";
      await first.goto(range);
      await first.waitForURL(/\/app\/signin\?next=/);
      await first.getByText("Your session ended.", { exact: false }).waitFor();
      assert.equal(new URL(first.url()).searchParams.get("next"), range);
      // This device signed in to demo before: the org is filled in, and the
      // email field has focus.
      assert.equal(await first.getByLabel("Organization").inputValue(), "demo");
      assert.equal(await first.evaluate(() => document.activeElement?.id), "email");
      await screenshot(first, "16-session-ended");
      await signIn(first, stack.admin.email, stack.admin.password);
      await first.waitForURL((url) => url.pathname + url.search === range);
      await first.locator('[data-total="messages"]').waitFor();
      noProblems(context);
    });

    test("signing out ends the session in every tab", async () => {
      await second.goto("/app/chats");
      await second.getByRole("heading", { exact: true, name: "Chats" }).waitFor();
      await first.getByRole("button", { name: "Sign out" }).click();
      await first.waitForURL(/\/app\/signin$/);
      await second.waitForURL(/\/app\/signin/);
      assert.equal(await status(first), 401);
      await first.goto("/app/chats");
      await first.waitForURL(/\/app\/signin\?next=%2Fapp%2Fchats/);
      noProblems(context);
    });

    test("the sign-in throttle's 429 says how long to wait", async () => {
      const page = await context.newPage();
      await page.goto("/app/signin");
      const attempt = async () => {
        const answered = page.waitForResponse((response) => response.url().endsWith("/auth/login"));
        await signIn(page, "throttled@demo.local", "not the password");
        return (await answered).status();
      };
      for (let n = 1; n <= 5; n++) {
        assert.equal(await attempt(), 401);
        await page.getByText("Wrong organization, email or password.").waitFor();
      }
      assert.equal(await attempt(), 429);
      const message = page.getByRole("alert");
      await message.getByText("Too many failed sign-ins", { exact: false }).waitFor();
      assert.match(await message.innerText(), /try again in (1 minute|\d+ minutes|1 second|\d+ seconds)/);
      await expectAccessible(page, "the throttled sign-in");
      await screenshot(page, "17-sign-in-throttled");
      noProblems(context);
    });
  });
});

describe("performance", { timeout: 180_000 }, () => {
  test("the chats page's first load transfers at most 200 KB", async () => {
    const { context, page } = await signedIn(stack.admin.email, stack.admin.password);
    // A fresh tab with the cache off: everything the page needs comes over the wire.
    const fresh = await context.newPage();
    const cdp = await context.newCDPSession(fresh);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    let transferred = 0;
    const encodings = {};
    cdp.on("Network.loadingFinished", (event) => {
      transferred += event.encodedDataLength;
    });
    cdp.on("Network.responseReceived", ({ response }) => {
      if (response.url.includes("/assets/")) encodings[response.url.split("/").pop()] = response.headers["content-encoding"] ?? "none";
    });
    await fresh.goto("/app/chats");
    await eventually("the chats", async () => (await fresh.locator("tbody tr").count()) > 0);
    await fresh.waitForLoadState("networkidle");
    figures.chats_first_load_kb = Math.round((transferred / KB) * 10) / 10;
    figures.asset_encodings = encodings;
    assert.ok(transferred <= 200 * KB, `the chats page transferred ${transferred} bytes`);
    // The chart library is not part of it.
    assert.ok(!Object.keys(encodings).some((name) => name.startsWith("analytics")), JSON.stringify(encodings));
    noProblems(context);
    await context.close();
  });
});
