#!/usr/bin/env node
// Figures for the web dashboard, measured in headless Chromium against a running API
// (`make up`, or any URL): first load cold and warm, the bundle size, and the time from an
// event to its update on screen. Prints a table; asserts nothing. With --json OUT, appends the
// medians as dashboard.load_ms / dashboard.event_ms figures (scripts/figures.py stamps the machine).
//
//   node loadtests/dashboard_load.mjs [--url URL] [--user admin] [--password-file .data/admin-password]
//                                     [--runs 5] [--events 10] [--json reports/figures.jsonl]
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { launch } = await import(pathToFileURL(path.join(root, "dashboard", "scripts", "chromium.mjs")).href);

const opts = {
  url: `http://127.0.0.1:${8000 + Number(process.env.COBOL_PORT_OFFSET || 0)}`,
  user: "admin",
  "password-file": path.join(root, ".data", "admin-password"),
  runs: "5",
  events: "10",
  json: "",
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "-h" || a === "--help") {
    console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 8).join("\n").replace(/^\/\/ ?/gm, ""));
    process.exit(0);
  }
  const key = a.replace(/^--/, "");
  if (!(key in opts) || argv[i + 1] === undefined) {
    console.error(`unknown or incomplete option ${a} (see --help)`);
    process.exit(2);
  }
  opts[key] = argv[++i];
}
const RUNS = Math.max(1, Number(opts.runs));
const EVENTS = Math.max(1, Number(opts.events));
const password = process.env.COBOL_PASSWORD || readFileSync(opts["password-file"], "utf8").trim();

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs) => `median ${median(xs).toFixed(0)} ms  (min ${Math.min(...xs).toFixed(0)}, max ${Math.max(...xs).toFixed(0)}, n=${xs.length})`;

// ---- bundle size -------------------------------------------------------------------------
const dist = path.join(root, "dashboard", "dist");
const files = readdirSync(path.join(dist, "assets")).filter((f) => !f.endsWith(".gz")).map((f) => path.join(dist, "assets", f));
const gz = (f) => gzipSync(readFileSync(f), { level: 9 }).length;
const html = readFileSync(path.join(dist, "index.html"), "utf8");
const firstLoad = [path.join(dist, "index.html"),
  ...[...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => path.join(dist, m[1]))];
const sum = (fs, f) => fs.reduce((n, x) => n + f(x), 0);

// ---- a token for the logged-in figures ---------------------------------------------------
const tokenRes = await fetch(`${opts.url}/api/auth/token`, { method: "POST", body: new URLSearchParams({ username: opts.user, password }) });
if (!tokenRes.ok) {
  console.error(`login to ${opts.url} failed: ${tokenRes.status} ${await tokenRes.text()}`);
  process.exit(1);
}
const token = (await tokenRes.json()).access_token;
const session = JSON.stringify({ access: token, expiresAt: Date.now() + 3_000_000 });

const browser = await launch();
const cold = { login: [], jobs: [] };
const warm = { login: [], jobs: [] };
const wsToDom = [];
const submitToDom = [];
try {
  // ---- first load, cold (new profile: empty cache) and warm (same profile, reloaded) -------
  // Timed in the page: from the start of the navigation (performance.now() = 0) to the frame
  // after the page's content appeared, so the driver's own round trips do not count.
  const stampReady = (selector) => {
    new MutationObserver((_, obs) => {
      if (document.querySelector(selector)) {
        obs.disconnect();
        requestAnimationFrame(() => { window.__ready = performance.now(); });
      }
    }).observe(document, { childList: true, subtree: true });
  };
  for (let i = 0; i < RUNS; i++) {
    for (const [name, route, ready] of [["login", "/login", 'button[type="submit"]'], ["jobs", "/jobs", '[data-testid="job-row"], [data-testid="empty"]']]) {
      const ctx = await browser.newContext();
      if (name === "jobs") await ctx.addInitScript((s) => sessionStorage.setItem("cobol.session", s), session);
      await ctx.addInitScript(stampReady, ready);
      const page = await ctx.newPage();
      for (const bucket of [cold, warm]) {
        await page.goto(opts.url + route);
        await page.waitForFunction(() => window.__ready !== undefined, null, { timeout: 30_000 });
        bucket[name].push(await page.evaluate(() => window.__ready));
      }
      await ctx.close();
    }
  }

  // ---- event to screen: a job submitted to the API -> its row drawn on the open jobs page ----
  // (from the request, not its 202: under load the WebSocket's push, and so the row, can come
  // before the fetch() promise resolves, which made that difference negative)
  const ctx = await browser.newContext();
  await ctx.addInitScript((s) => {
    sessionStorage.setItem("cobol.session", s);
    window.__ws = {};
    window.__dom = {};
    const Orig = window.WebSocket;
    window.WebSocket = class extends Orig {
      constructor(...args) {
        super(...args);
        // registered before the app's own handler, so it stamps the message's arrival
        this.addEventListener("message", (e) => {
          try {
            const m = JSON.parse(e.data);
            if (m.type === "job" && m.job && !(m.job.id in window.__ws)) window.__ws[m.job.id] = performance.now();
          } catch { /* not JSON */ }
        });
      }
    };
    new MutationObserver((records) => {
      for (const r of records) for (const n of r.addedNodes) {
        const id = n.nodeType === 1 && n.getAttribute("data-job-id");
        if (id && !(id in window.__dom)) {
          // the frame after the DOM change is when it is on screen
          requestAnimationFrame(() => { window.__dom[id] = performance.now(); });
        }
      }
    }).observe(document, { childList: true, subtree: true });
  }, session);
  const page = await ctx.newPage();
  await page.goto(opts.url + "/jobs");
  await page.getByTestId("live-state").filter({ hasText: "live" }).waitFor({ timeout: 30_000 });
  const sample = readFileSync(path.join(root, "..", "shared", "corpora", "loghub", "Apache_2k.log")).subarray(0, 4096);
  for (let i = 0; i < EVENTS; i++) {
    const r = await page.evaluate(async ({ token, text, i }) => {
      const form = new FormData();
      form.append("profile", "fast");
      form.append("file", new Blob([text]), `dashboard-load-${i}.log`);
      const sent = performance.now();
      const res = await fetch("/api/jobs", { method: "POST", body: form, headers: { Authorization: `Bearer ${token}` } });
      const body = await res.json();
      const deadline = performance.now() + 15_000;
      while (!(body.id in window.__dom) && performance.now() < deadline) await new Promise((ok) => setTimeout(ok, 5));
      return { status: res.status, sent, ws: window.__ws[body.id], dom: window.__dom[body.id] };
    }, { token, text: sample.toString("utf8"), i });
    if (r.status !== 202 || r.dom === undefined || r.ws === undefined) {
      console.error(`event ${i}: status ${r.status}, row ${r.dom === undefined ? "never drawn" : "drawn"}`);
      continue;
    }
    wsToDom.push(r.dom - r.ws);
    submitToDom.push(r.dom - r.sent);
  }
  await ctx.close();
} finally {
  await browser.close();
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`dashboard figures against ${opts.url} (headless Chromium ${RUNS} cold + ${RUNS} warm loads per page, ${EVENTS} events)`);
console.log(`  bundle, first load (index.html + entry JS + CSS): ${kib(sum(firstLoad, (f) => statSync(f).size))} raw, ${kib(sum(firstLoad, gz))} gzip`);
console.log(`  bundle, all assets (lazy pages and charts included): ${kib(sum(files, (f) => statSync(f).size))} raw, ${kib(sum(files, gz))} gzip`);
console.log("  first load = navigation start -> the page drawn (in-page clock); cold = new browser profile, warm = reload");
console.log(`  first load /login, cold cache   : ${fmt(cold.login)}`);
console.log(`  first load /login, warm cache   : ${fmt(warm.login)}`);
console.log(`  first load /jobs with data, cold: ${fmt(cold.jobs)}`);
console.log(`  first load /jobs with data, warm: ${fmt(warm.jobs)}`);
if (wsToDom.length) {
  console.log(`  event on the WebSocket -> on screen           : ${fmt(wsToDom)}`);
  console.log(`  job submitted (POST) -> its row on screen      : ${fmt(submitToDom)}  (includes the upload, the API's 200 ms coalescing and a coordinator read)`);
} else {
  console.log("  event -> screen: no event reached the screen (is the mesh up?)");
}

// ---- figures for scripts/report.py ------------------------------------------------------------
if (opts.json) {
  const fig = (name, value, labels) => JSON.stringify({ source: "loadtests/dashboard_load.mjs", name, value,
    unit: "ms", peer: "cobol dashboard", labels: { ...labels, stat: "median", runs: RUNS } });
  const lines = [];
  for (const [bucket, cache] of [[cold, "cold"], [warm, "warm"]]) {
    for (const pageName of ["login", "jobs"]) lines.push(fig("dashboard.load_ms", median(bucket[pageName]), { page: pageName, cache }));
  }
  if (wsToDom.length) {
    lines.push(fig("dashboard.event_ms", median(wsToDom), { event: "websocket -> screen" }));
    lines.push(fig("dashboard.event_ms", median(submitToDom), { event: "submit -> screen" }));
  }
  const py = path.join(root, ".venv", "bin", "python");
  const r = spawnSync(py, [path.join(root, "scripts", "figures.py"), "append", opts.json], { input: lines.join("\n") + "\n", encoding: "utf8" });
  process.stdout.write(r.stdout || "");
  if (r.status !== 0) {
    console.error(`could not write the figures: ${r.stderr || r.error}`);
    process.exit(1);
  }
}
