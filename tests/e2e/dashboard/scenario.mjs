#!/usr/bin/env node
// The dashboard driven in headless Chromium against a running API and mesh. Run by
// test_dashboard_browser.py, which starts everything, reads the results file and asserts.
//
// usage: node scenario.mjs CONFIG.json RESULTS.json
// CONFIG: {url, admin: {user, password}, viewer: {user, password}, corpus, artifacts}
// Every step records what it saw; a failing step records its error and the run goes on, so
// one broken page does not hide the others. Screenshots go to `artifacts`.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");
// chromium.mjs lives in the app, so playwright-core resolves from dashboard/node_modules
const { launch } = await import(pathToFileURL(path.join(root, "dashboard", "scripts", "chromium.mjs")).href);

const [configPath, resultsPath] = process.argv.slice(2);
if (!configPath || !resultsPath) {
  console.error("usage: node scenario.mjs CONFIG.json RESULTS.json");
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(configPath, "utf8"));
mkdirSync(cfg.artifacts, { recursive: true });
const results = { steps: {}, consoleErrors: {}, screenshots: [] };
const JOB_TIMEOUT = 300_000;

async function step(name, fn) {
  const started = Date.now();
  try {
    results.steps[name] = { ok: true, ...(await fn()) };
  } catch (err) {
    results.steps[name] = { ok: false, error: String(err?.stack || err) };
  }
  results.steps[name].ms = Date.now() - started;
  writeFileSync(resultsPath, JSON.stringify(results, null, 1));
}

/** A page whose console errors and uncaught exceptions are recorded under the current label. */
async function newPage(context) {
  const page = await context.newPage();
  page.label = "start";
  const record = (text) => {
    (results.consoleErrors[page.label] ??= []).push(text);
  };
  page.on("console", (m) => m.type() === "error" && record(m.text()));
  page.on("pageerror", (e) => record(`uncaught: ${e.message}`));
  return page;
}

async function shot(page, name) {
  const file = path.join(cfg.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  results.screenshots.push(file);
}

async function login(page, who) {
  await page.getByLabel("User name").fill(who.user);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Open a page by its address (a full load: the server's SPA fallback answers) and wait for its heading. */
async function visit(page, label, route, heading) {
  page.label = label;
  await page.goto(cfg.url + route);
  await page.getByRole("heading", { name: heading, exact: true }).first().waitFor({ timeout: 30_000 });
  // let lazy pages and their data settle: no spinner left
  await page.waitForFunction(() => !document.querySelector('[role="status"] .animate-spin'), null, { timeout: 30_000 });
}

const browser = await launch();
try {
  const admin = await browser.newContext({ acceptDownloads: true, viewport: { width: 1366, height: 900 }, reducedMotion: "reduce" });
  const page = await newPage(admin);
  let jobId = null;

  await step("login", async () => {
    page.label = "login";
    await page.goto(cfg.url + "/jobs");
    await page.waitForURL(/\/login\?next=%2Fjobs/);
    await shot(page, "login");
    page.label = "login-refused"; // the refused password's 401 is expected in the console
    await login(page, { user: cfg.admin.user, password: "wrong-password" });
    const refused = await page.getByRole("alert").textContent();
    page.label = "login";
    await login(page, cfg.admin);
    await page.waitForURL(/\/jobs$/);
    await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor({ timeout: 30_000 });
    return { refused, me: await page.getByTestId("me-name").textContent(), url: page.url() };
  });

  await step("submit", async () => {
    page.label = "jobs";
    const form = page.getByRole("form", { name: "New job" });
    await form.getByLabel("File to compress").setInputFiles(cfg.corpus);
    await form.getByLabel("Profile").selectOption("fast");
    await form.getByRole("button", { name: "Compress", exact: true }).click();
    const link = page.getByRole("status").getByRole("link");
    await link.waitFor({ timeout: 120_000 });
    jobId = decodeURIComponent((await link.getAttribute("href")).split("/").pop());
    const seen = new Set();
    const row = page.locator(`[data-testid="job-row"][data-job-id="${jobId}"]`);
    // watch the row change over the WebSocket (the page is never reloaded)
    const deadline = Date.now() + JOB_TIMEOUT;
    while (Date.now() < deadline) {
      const status = await row.getAttribute("data-status");
      seen.add(status);
      if (status === "done" || status === "failed") break;
      await page.waitForTimeout(100);
    }
    await shot(page, "jobs");
    return { jobId, statuses: [...seen], final: await row.getAttribute("data-status"),
             progress: await row.getByRole("progressbar").getAttribute("aria-valuenow") };
  });

  await step("detail_and_downloads", async () => {
    if (!jobId) throw new Error("no job was submitted");
    await visit(page, "job-detail", `/jobs/${encodeURIComponent(jobId)}`, "Details");
    const files = {};
    for (const [key, label] of [["result", "Download result (.cobol)"], ["original", "Download original"]]) {
      const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: label }).click()]);
      files[key] = path.join(cfg.artifacts, `download-${key}.bin`);
      await dl.saveAs(files[key]);
      files[`${key}_name`] = dl.suggestedFilename();
    }
    const chunks = await page.getByText(/chunks archived/).textContent();
    await shot(page, "job-detail");
    return { files, chunks };
  });

  const pages = [
    ["cluster", "/cluster", "Cluster"],
    ["analytics", "/analytics", "Analytics"],
    ["dictionaries", "/dictionaries", "Dictionaries"],
    ["federation", "/federation", "Federated rounds"],
    ["users", "/admin/users", "Users"],
    ["audit", "/admin/audit", "Audit log"],
    ["not-found", "/no/such/page", "No such page"],
  ];
  for (const [label, route, heading] of pages) {
    await step(`page_${label}`, async () => {
      await visit(page, label, route, heading);
      await shot(page, label);
      const notAvailable = await page.getByTestId("not-available").count();
      return { notAvailable, title: await page.title() };
    });
  }

  await step("phone", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, reducedMotion: "reduce" });
    const p = await newPage(phone);
    p.label = "phone";
    await p.goto(cfg.url + "/login");
    await login(p, cfg.admin);
    await p.waitForURL(/\/jobs$/);
    await p.getByRole("heading", { name: "History" }).waitFor();
    const navHidden = !(await p.getByRole("navigation", { name: "Main" }).isVisible());
    await shot(p, "phone-jobs");
    await p.getByRole("button", { name: "Menu" }).click();
    await p.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Cluster" }).click();
    await p.getByRole("heading", { name: "Cluster" }).waitFor();
    await shot(p, "phone-cluster");
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await phone.close();
    return { navHidden, overflow };
  });

  await step("viewer", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, reducedMotion: "reduce" });
    const p = await newPage(ctx);
    p.label = "viewer";
    await p.goto(cfg.url + "/admin/users");
    await p.waitForURL(/\/login/);
    await login(p, cfg.viewer);
    await p.getByTestId("forbidden").waitFor();
    const usersForbidden = await p.getByTestId("forbidden").isVisible();
    await shot(p, "viewer-users-forbidden");
    await p.goto(cfg.url + "/admin/audit");
    await p.getByTestId("forbidden").waitFor();
    await p.goto(cfg.url + "/jobs");
    await p.getByRole("heading", { name: "History" }).waitFor();
    // jobs belong to their submitter: the admin's upload is not the viewer's to see
    await p.getByText("No jobs yet").waitFor();
    const viewerRows = await p.locator('[data-testid="job-row"]').count();
    const navText = await p.getByRole("navigation", { name: "Main" }).textContent();
    const uploadForms = await p.getByRole("form", { name: "New job" }).count();
    const fileInputs = await p.locator('input[type="file"]').count();
    await shot(p, "viewer-jobs");
    // and the server agrees: the viewer's own token cannot submit (its 403 is expected in the console)
    p.label = "viewer-api-probe";
    const apiStatus = await p.evaluate(async () => {
      const { access } = JSON.parse(sessionStorage.getItem("cobol.session"));
      const form = new FormData();
      form.append("file", new Blob(["x"]), "x.log");
      const r = await fetch("/api/jobs", { method: "POST", body: form, headers: { Authorization: `Bearer ${access}` } });
      return r.status;
    });
    await ctx.close();
    return { usersForbidden, navText, uploadForms, fileInputs, apiStatus, viewerRows };
  });

  await step("expiry", async () => {
    // tokens the server refuses (access and refresh: a bad access token alone is refreshed
    // quietly): the app must go to the login page and come back after it
    page.label = "expiry";
    await page.goto(cfg.url + "/jobs");
    await page.getByRole("heading", { name: "History" }).waitFor();
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem("cobol.session"));
      sessionStorage.setItem("cobol.session", JSON.stringify({ ...s, access: `${s.access}x`, refresh: `${s.refresh}x` }));
    });
    await page.goto(cfg.url + "/admin/audit?job_id=x");
    await page.waitForURL(/\/login\?expired=1/);
    const loginUrl = page.url();
    const notice = await page.getByText(/Your session expired/).textContent();
    await login(page, cfg.admin);
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    return { loginUrl, notice, back: page.url() };
  });
  await admin.close();
} finally {
  await browser.close();
  writeFileSync(resultsPath, JSON.stringify(results, null, 1));
}
