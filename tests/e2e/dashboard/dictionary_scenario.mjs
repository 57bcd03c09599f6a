#!/usr/bin/env node
// The Dictionary and Federation pages in headless Chromium against a running API and mesh
// whose federator holds seeded versions and rounds. Run by test_dictionary_pages.py.
//
// usage: node dictionary_scenario.mjs CONFIG.json RESULTS.json
// CONFIG: {url, admin: {user, password}, viewer: {user, password}, artifacts, candidate}
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..", "..");
const { launch } = await import(pathToFileURL(path.join(root, "dashboard", "scripts", "chromium.mjs")).href);

const [configPath, resultsPath] = process.argv.slice(2);
if (!configPath || !resultsPath) {
  console.error("usage: node dictionary_scenario.mjs CONFIG.json RESULTS.json");
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

async function newPage(context, label) {
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && (results.consoleErrors[label] ??= []).push(m.text()));
  page.on("pageerror", (e) => (results.consoleErrors[label] ??= []).push(`uncaught: ${e.message}`));
  return page;
}

async function shot(page, name) {
  const file = path.join(cfg.artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  results.screenshots.push(file);
}

/** Open `route` signed out: the app asks for a login and comes back to it. */
async function signIn(page, who, route, heading) {
  await page.goto(cfg.url + route);
  await page.getByLabel("User name").fill(who.user);
  await page.getByLabel("Password").fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: heading, exact: true }).waitFor({ timeout: 30_000 });
}

const settled = (page) => page.waitForFunction(() => !document.querySelector('[role="status"] .animate-spin'), null,
  { timeout: 30_000 });

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, reducedMotion: "reduce" });
  const page = await newPage(ctx, "admin");

  await step("dictionaries", async () => {
    await signIn(page, cfg.admin, "/dictionaries", "Dictionaries");
    await page.getByTestId("ab-status").waitFor();
    await page.getByTestId("pattern-row").first().waitFor({ timeout: 30_000 });
    await settled(page);
    const versions = await page.getByTestId("data-row").count();
    const lineage = await page.getByTestId("lineage").textContent();
    const patterns = await page.getByTestId("pattern-row").count();
    const firstPattern = await page.getByTestId("pattern-row").first().locator("td").nth(3).textContent();
    await shot(page, "dictionaries-data");
    // search through the server: one pattern holds "café" after undecodable bytes
    await page.getByLabel("Search patterns").fill("CAFÉ");
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="pattern-row"]').length === 1);
    const found = await page.getByTestId("pattern-row").first().locator("td").first().textContent();
    await page.getByLabel("Search patterns").fill("");
    await page.getByLabel("Sort by").selectOption("frequency");
    await page.getByLabel("Order").selectOption("asc");
    // the table keeps the old rows while the new order loads: wait until it is no longer busy
    await page.waitForFunction(() => document.querySelector('[data-testid="patterns"]')?.getAttribute("aria-busy") === "false"
      && document.querySelectorAll('[data-testid="pattern-row"]').length > 1, null, { timeout: 30_000 });
    const freqs = await page.getByTestId("pattern-row").evaluateAll((rows) =>
      rows.map((r) => Number(r.querySelectorAll("td")[2].textContent)));
    // an admin promotes the candidate
    await page.getByRole("button", { name: `Promote ${cfg.candidate}` }).click();
    const promoted = await page.getByRole("status").filter({ hasText: "is now current" }).textContent();
    await page.getByTestId("ab-status").filter({ hasText: cfg.candidate }).waitFor();
    await shot(page, "dictionaries-promoted");
    return { versions, lineage, patterns, firstPattern, found, freqs, promoted };
  });

  await step("federation", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Federated rounds" }).click();
    await page.getByRole("heading", { name: "Federated rounds", exact: true }).waitFor();
    await page.getByTestId("budget-text").waitFor({ timeout: 30_000 });
    await page.locator(".recharts-surface").first().waitFor({ timeout: 30_000 });
    await settled(page);
    const budget = await page.getByTestId("budget-text").textContent();
    const convergence = await page.getByTestId("convergence").textContent();
    const rounds = await page.getByTestId("data-row").count();
    const bars = await page.locator(".recharts-bar-rectangle").count();
    await shot(page, "federation-data");
    return { budget, convergence, rounds, bars };
  });

  await step("viewer", async () => {
    const vctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, reducedMotion: "reduce" });
    const v = await newPage(vctx, "viewer");
    await signIn(v, cfg.viewer, "/dictionaries", "Dictionaries");
    await v.getByTestId("pattern-row").first().waitFor({ timeout: 30_000 });
    await settled(v);
    const promote = await v.getByRole("button", { name: /^Promote / }).count();
    const rollback = await v.getByRole("button", { name: /^Roll back / }).count();
    await shot(v, "dictionaries-viewer");
    await vctx.close();
    return { promote, rollback };
  });
  await ctx.close();
} finally {
  await browser.close();
  writeFileSync(resultsPath, JSON.stringify(results, null, 1));
}
