#!/usr/bin/env node
// The Analytics and API-keys pages in headless Chromium against a running API and analytics
// worker. Run by test_analytics_keys_browser.py, which starts them, feeds the worker, reads
// the results file and asserts.
//
// usage: node analytics_keys_scenario.mjs CONFIG.json RESULTS.json
// CONFIG: {url, admin: {user, password}, artifacts}
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");
const { launch } = await import(pathToFileURL(path.join(root, "dashboard", "scripts", "chromium.mjs")).href);

const [configPath, resultsPath] = process.argv.slice(2);
if (!configPath || !resultsPath) {
  console.error("usage: node analytics_keys_scenario.mjs CONFIG.json RESULTS.json");
  process.exit(2);
}
const cfg = JSON.parse(readFileSync(configPath, "utf8"));
mkdirSync(cfg.artifacts, { recursive: true });
const results = { steps: {}, consoleErrors: {}, screenshots: [] };

async function step(name, fn) {
  try {
    results.steps[name] = { ok: true, ...(await fn()) };
  } catch (err) {
    results.steps[name] = { ok: false, error: String(err?.stack || err) };
  }
  writeFileSync(resultsPath, JSON.stringify(results, null, 1));
}

async function shot(page, name) {
  const file = path.join(cfg.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  results.screenshots.push(file);
}

const settled = (page) =>
  page.waitForFunction(() => !document.querySelector('[role="status"] .animate-spin'), null, { timeout: 60_000 });
const rowNames = (page, testid) =>
  page.locator(`[data-testid="${testid}"]`).evaluateAll((rows) => rows.map((r) => r.dataset.name));

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, reducedMotion: "reduce" });
  const page = await context.newPage();
  page.label = "login";
  page.on("console", (m) => m.type() === "error" && (results.consoleErrors[page.label] ??= []).push(m.text()));
  page.on("pageerror", (e) => (results.consoleErrors[page.label] ??= []).push(`uncaught: ${e.message}`));

  await step("login", async () => {
    await page.goto(cfg.url + "/analytics");
    await page.waitForURL(/\/login\?next=%2Fanalytics/);
    await page.getByLabel("User name").fill(cfg.admin.user);
    await page.getByLabel("Password").fill(cfg.admin.password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(/\/analytics$/);
    return { url: page.url() };
  });

  await step("analytics", async () => {
    page.label = "analytics";
    await page.getByTestId("card-frames").waitFor({ timeout: 60_000 });
    await settled(page);
    await page.locator('[data-testid="node-row"]').first().waitFor({ timeout: 60_000 });
    const out = {
      frames: await page.getByTestId("card-frames").textContent(),
      ratio: await page.getByTestId("card-ratio").textContent(),
      nodes: await rowNames(page, "node-row"),
      layers: await rowNames(page, "layer-row"),
      profiles: await rowNames(page, "profile-row"),
      lines: await page.locator(".recharts-line").count(),
      notAvailable: await page.getByTestId("not-available").count(),
    };
    await shot(page, "analytics-data");
    await page.getByLabel("Split by").selectOption("node");
    await page.getByRole("img", { name: /^Ratio over time, \d+ series$/ }).and(page.getByRole("img", { name: /[2-9] series/ }))
      .first().waitFor({ timeout: 60_000 });
    out.splitLabel = await page.getByRole("img", { name: /^Ratio over time/ }).getAttribute("aria-label");
    await page.getByLabel("Time range").selectOption("24h");
    await settled(page);
    await page.getByTestId("card-frames").waitFor();
    out.frames24h = await page.getByTestId("card-frames").textContent();
    await shot(page, "analytics-by-node");
    return out;
  });

  await step("api_keys", async () => {
    page.label = "api-keys";
    await page.getByRole("navigation").getByRole("link", { name: "API keys" }).first().click();
    await page.getByRole("heading", { name: "API keys", exact: true }).waitFor({ timeout: 30_000 });
    await settled(page);
    const form = page.getByRole("form", { name: "New API key" });
    await form.getByLabel("Name").fill("e2e-machine");
    await form.getByLabel("Role").selectOption("viewer");
    await form.getByRole("button", { name: "Create key" }).click();
    const key = await page.getByTestId("new-key").textContent({ timeout: 30_000 });
    // the key works, from this browser, as a machine would send it
    const meStatus = await page.evaluate(async (k) => (await fetch("/api/me", { headers: { "X-API-Key": k } })).status, key);
    await page.locator('[data-testid="key-row"]').first().waitFor();
    const rows = await page.locator('[data-testid="key-row"] th').allTextContents();
    await shot(page, "api-keys-created");
    await page.getByRole("button", { name: "I have stored it" }).click();
    const stillShown = await page.getByTestId("new-key").count();
    return { key, rows, stillShown, meStatus };
  });

  await step("revoke", async () => {
    page.label = "api-keys";
    page.once("dialog", (d) => d.accept());
    await page.getByRole("button", { name: "Revoke e2e-machine" }).click();
    await page.getByRole("button", { name: "Revoke e2e-machine" }).waitFor({ state: "detached", timeout: 30_000 });
    await shot(page, "api-keys-revoked");
    return { rows: await page.locator('[data-testid="key-row"] th').allTextContents() };
  });
} finally {
  await browser.close();
  writeFileSync(resultsPath, JSON.stringify(results, null, 1));
}
