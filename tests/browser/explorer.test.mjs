// End-to-end test of `kraftwerk explore` in a real browser (headless
// Chromium driven by playwright-core). Run by tests/tests/explorer.rs, which
// passes, through the environment:
//   KRAFTWERK   the kraftwerk binary
//   PORT1 PORT2 two free TCP ports on 127.0.0.1
//   SCREENSHOT  where to save a screenshot of the counterexample
//   WORKDIR     an empty directory to run the server in (no ui/ folder)
//
// 1. A correct Raft: press "Run to completion", wait for "Done", and check
//    that election-safety is listed as holding.
// 2. Raft with the unpersisted-vote bug: a counterexample link appears for
//    election-safety; following it opens #/steps/..., whose state shows
//    the compact server lines (`n0 leader ...`).
// Every server started is killed by PID at the end, even on failure.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
};
const KRAFTWERK = env('KRAFTWERK');
const SCREENSHOT = env('SCREENSHOT');
const WORKDIR = env('WORKDIR');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const servers = [];
let browser;
let page;
let profile;

function killAll() {
  for (const s of servers) {
    if (s.exitCode === null && s.signalCode === null) {
      try { process.kill(s.pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { killAll(); process.exit(1); });
}
// A hung test must not hang CI.
const watchdog = setTimeout(() => {
  console.error('explorer test: timed out after 240 s');
  killAll();
  process.exit(1);
}, 240_000);

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

/** Starts `kraftwerk explore` and resolves once it prints its URL. */
function startServer(port, flags) {
  const args = ['explore', ...flags, '--addr', `127.0.0.1:${port}`];
  console.log(`$ kraftwerk ${args.join(' ')}`);
  const child = spawn(KRAFTWERK, args, { cwd: WORKDIR, stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  child.output = '';
  child.stdout.on('data', (d) => { child.output += d; });
  child.stderr.on('data', (d) => { child.output += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${child.output}`)), 30_000);
    const check = () => {
      if (child.output.includes(`http://127.0.0.1:${port}/`)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${child.output}`));
    });
    check();
  });
}

/** Waits until `pred(child.output)` holds. */
async function waitForOutput(child, pred, what, ms = 60_000) {
  const end = Date.now() + ms;
  while (!pred(child.output)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; server output:\n${child.output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The Global property list item for `name`. */
const propertyItem = (page, name) =>
  page.locator('h3', { hasText: 'Global' })
    .locator('xpath=following-sibling::ul[1]/li')
    .filter({ hasText: new RegExp(`\\b(Always|Sometimes|Eventually) ${name}\\s*$`) })
    .first();

/** Opens the page and presses "Run to completion". */
async function startSearch(page, base) {
  await page.goto(`${base}/`);
  await page.getByRole('button', { name: 'Run to completion' }).click();
}

/** Waits for Progress to read "Done" (the page re-reads /.status every 5 s). */
async function waitForDone(page) {
  await page.locator('li', { hasText: 'Progress:' }).locator('span').filter({ hasText: /^Done$/ })
    .waitFor({ timeout: 120_000 });
}

async function main() {
  profile = mkdtempSync(join(tmpdir(), 'kraftwerk-chromium-'));
  // A fresh profile directory (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  page = browser.pages()[0] || await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));

  // 1. A correct Raft: election safety holds. As published (figure2):
  // 8,610 states, where production's leader no-op makes 353,330.
  const port1 = env('PORT1');
  const base1 = `http://127.0.0.1:${port1}`;
  const ok = await startServer(port1, [
    '--config', 'figure2', '--protocol', 'raft', '--servers', '3', '--max-term', '1', '--crashes', '0',
    '--network', 'unordered-nonduplicating',
  ]);
  await startSearch(page, base1);
  await waitForDone(page);
  const safety = propertyItem(page, 'election-safety');
  await safety.waitFor();
  const safetyText = await safety.innerText();
  console.log(`correct raft: ${safetyText.trim()}`);
  assert(/Safety holds/.test(safetyText), `election-safety holds, got: ${safetyText}`);
  assert(await safety.locator('a').count() === 0, 'no counterexample link for a correct model');
  // The initial state shows the compact server lines.
  await page.goto(`${base1}/#/steps/0`);
  await page.getByText(/n0 follower t0 vote - log \[\] commit 0/).first().waitFor();
  await waitForOutput(ok, (o) => /always election-safety: holds/.test(o), 'the terminal summary');
  process.kill(ok.pid, 'SIGKILL');

  // 2. The unpersisted-vote bug: a counterexample for election safety.
  const port2 = env('PORT2');
  const base2 = `http://127.0.0.1:${port2}`;
  const bug = await startServer(port2, [
    '--protocol', 'raft', '--bug', 'unpersisted-vote', '--servers', '3', '--max-term', '1',
    '--crashes', '1', '--network', 'unordered-nonduplicating',
  ]);
  // The whole space of this model is large: the link appears long before
  // the search completes, so this does not wait for "Done".
  await startSearch(page, base2);
  const broken = propertyItem(page, 'election-safety');
  const link = broken.locator('a', { hasText: 'election-safety' });
  await link.waitFor({ timeout: 60_000 });
  const brokenText = await broken.innerText();
  console.log(`unpersisted-vote: ${brokenText.trim()}`);
  assert(/Counterexample found/.test(brokenText), `counterexample summary, got: ${brokenText}`);
  // The terminal reports the discovery too, with a deep link.
  await waitForOutput(bug, (o) => /Found: always election-safety: COUNTEREXAMPLE/.test(o), 'the terminal report');
  const printed = bug.output.match(/Found: always election-safety: COUNTEREXAMPLE (\S+)/)[1];
  console.log(`terminal: ${printed}`);
  assert(printed.startsWith(`${base2}/#/steps/`), `terminal deep link, got ${printed}`);

  // Follow the link. (The search goes on and may replace the discovery
  // with another one; any of them is a counterexample.)
  await link.click();
  await page.waitForURL((u) => /^#\/steps(\/\d+)+$/.test(u.hash));
  const url = new URL(page.url());
  console.log(`followed: ${url}`);
  assert(/^#\/steps(\/\d+)+$/.test(url.hash), `URL path #/steps/..., got ${url.hash}`);
  // Show the whole state, not the last step's outcome.
  await page.getByLabel('Complete State?').check();
  const state = page.locator('section.main-flex-right div.font-code').last();
  // The ghost history records two leaders in term 1: the violation.
  await state.filter({ hasText: /leaders t1: n\d n\d/ }).waitFor();
  const stateText = await state.innerText();
  // Every server on one compact line, as in the terminal's traces.
  const serverLine = /^\s*n\d (follower|follower-of n\d|candidate \(votes[^)]*\)|leader \(match [^)]*\)) t\d+ vote (n\d|-) log \[[^\]]*\] commit \d+/;
  const lines = stateText.split('\n').filter((l) => serverLine.test(l));
  console.log(`counterexample state:\n${lines.join('\n')}`);
  assert(lines.length === 3, `three compact server lines in the state:\n${stateText}`);
  // The restarted server forgot its vote: memory and disk differ.
  assert(/\| disk t1 vote - /.test(stateText) || /vote -.*restarts 1/.test(stateText),
    `a restarted server without its vote on disk:\n${stateText}`);
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`screenshot: ${SCREENSHOT}`);
  process.kill(bug.pid, 'SIGKILL');
}

let failed = false;
try {
  await main();
  console.log('explorer test: ok');
} catch (e) {
  failed = true;
  console.error(e && e.stack ? e.stack : e);
  if (page) {
    const shot = SCREENSHOT.replace(/\.png$/, '') + '-failure.png';
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    console.error(`page at failure: ${page.url()}; screenshot: ${shot}`);
  }
} finally {
  killAll();
  if (browser) await browser.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
