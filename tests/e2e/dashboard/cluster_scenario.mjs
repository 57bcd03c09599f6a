#!/usr/bin/env node
// The Cluster page in headless Chromium while test_cluster_browser.py kills and restarts a
// compressor. The two talk over stdin/stdout, one JSON object per line:
//   node -> python  {"step": "ready"}                     the page shows every node alive
//   python -> node  {"killed_at": <unix ms>, "instance"}   the compressor was SIGKILLed then
//   node -> python  {"step": "down", "ok", "after_ms"}     the row said down (deadline: killed_at + 5 s)
//   python -> node  {"restarted_at": <unix ms>}
//   node -> python  {"step": "alive", "ok", "after_ms"}
//   python -> node  {"job_done_at": <unix ms>}             a job went through the mesh
//   node -> python  {"step": "rates", "ok", "labels"}      the topology's edges show its rates
// The page is never reloaded: every change arrives over the WebSocket. Screenshots and the
// console errors go to the results line {"step": "done", ...}.
//
// usage: node cluster_scenario.mjs CONFIG.json   (CONFIG: {url, admin: {user, password}, artifacts, instance})
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");
const { launch } = await import(pathToFileURL(path.join(root, "dashboard", "scripts", "chromium.mjs")).href);

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
mkdirSync(cfg.artifacts, { recursive: true });
const DOWN_DEADLINE_MS = 5_000;       // the "down within 5 s"
const ALIVE_DEADLINE_MS = 60_000;     // a restarted process boots, joins Kafka and beats
// a job's frames reach the analytics tables, their 10 s bucket closes, the page asks again (every 10 s)
const RATES_DEADLINE_MS = 90_000;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const hear = async () => JSON.parse((await lines.next()).value);
const consoleErrors = [];

/** Poll the row's status until `want` or the absolute deadline; returns when it was seen (or null). */
async function waitStatus(page, want, deadline) {
  const row = page.locator(`[data-testid="node-row"][data-instance="${cfg.instance}"]`);
  while (Date.now() < deadline) {
    if ((await row.getAttribute("data-status", { timeout: 1_000 }).catch(() => null)) === want) return Date.now();
    await page.waitForTimeout(50);
  }
  return null;
}

/** Every edge label of the topology picture: {"a->b": {text, measured}}. */
async function edgeLabels(page) {
  return page.locator('[data-testid="edge-rate"]').evaluateAll((els) => Object.fromEntries(els.map((e) =>
    [e.getAttribute("data-edge"), { text: e.textContent, measured: e.getAttribute("data-measured") }])));
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, reducedMotion: "reduce" });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(`uncaught: ${e.message}`));
  await page.goto(cfg.url + "/cluster");
  await page.waitForURL(/\/login/);
  await page.getByLabel("User name").fill(cfg.admin.user);
  await page.getByLabel("Password").fill(cfg.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/cluster$/);
  await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor({ timeout: 90_000 });  // a loaded CI machine
  if (!(await waitStatus(page, "alive", Date.now() + 60_000))) throw new Error(`${cfg.instance} never showed alive`);
  await page.screenshot({ path: path.join(cfg.artifacts, "cluster-alive.png"), fullPage: true });
  say({ step: "ready" });

  const { killed_at } = await hear();
  const downAt = await waitStatus(page, "down", killed_at + DOWN_DEADLINE_MS);
  await page.screenshot({ path: path.join(cfg.artifacts, "cluster-down.png"), fullPage: true });
  const alerts = await page.getByTestId("alert").allTextContents();
  say({ step: "down", ok: downAt !== null, after_ms: downAt && downAt - killed_at, alerts });

  const { restarted_at } = await hear();
  const aliveAt = await waitStatus(page, "alive", restarted_at + ALIVE_DEADLINE_MS);
  await page.screenshot({ path: path.join(cfg.artifacts, "cluster-alive-again.png"), fullPage: true });
  say({ step: "alive", ok: aliveAt !== null, after_ms: aliveAt && aliveAt - restarted_at,
        alerts: await page.getByTestId("alert").allTextContents() });

  const { job_done_at } = await hear();
  let labels = {};
  let ok = false;
  while (Date.now() < job_done_at + RATES_DEADLINE_MS) {
    labels = await edgeLabels(page);
    const chunks = labels["cobol.chunks->compressor"];
    if (chunks && chunks.measured === "yes" && !chunks.text.startsWith("0 B/s")) {
      ok = true;
      break;
    }
    await page.waitForTimeout(250);
  }
  await page.getByTestId("topology").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(cfg.artifacts, "cluster-rates.png"), fullPage: true });
  say({ step: "rates", ok, labels });
  say({ step: "done", consoleErrors });
} catch (err) {
  say({ step: "error", error: String(err?.stack || err), consoleErrors });
} finally {
  await browser.close();
}
