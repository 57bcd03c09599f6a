// Launch Debian's Chromium through playwright-core (npx playwright install cannot work on
// these machines). Shared by the browser tests (tests/e2e/dashboard) and the load figures
// (loadtests/dashboard_load.mjs).
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.COBOL_CHROMIUM || "/usr/bin/chromium";
export const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-first-run", "--disable-quic"];

export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: run \`make setup\` (it installs Debian's chromium) or set COBOL_CHROMIUM`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}
