// Shared by the browser tests: launching the system Chromium (never a downloaded one),
// spawning and stopping the real server binary, polling a page for a condition with a
// timeout, and collecting page errors.
import { execFileSync, spawn } from 'node:child_process';
import { after, before } from 'node:test';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const WEB_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ARTIFACTS = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
export const SERVER_BIN = process.env.SERVER_BIN || join(REPO_ROOT, 'target', 'debug', 'server');
const LISTENING = /listening on https?:\/\/([0-9.:]+)\//;

/** Mints a token with the server binary (`server token`), valid for 10 minutes. */
export function mintToken(secretFile, name, role) {
  return execFileSync(SERVER_BIN, ['token', '--auth-secret-file', secretFile, '--name', name, '--ttl', '10m', '--role', role], {
    encoding: 'utf8',
  }).trim();
}

/**
 * Spawns the server binary with `args`; resolves { child, address, output() } once it prints
 * its address (stdout or stderr). Fails after 20 s or if it exits first, with its output.
 */
export function startServer(args) {
  if (!existsSync(SERVER_BIN)) {
    throw new Error(`server binary not found at ${SERVER_BIN}: build it first with \`cargo build -p server\` (or set SERVER_BIN)`);
  }
  // Test servers close at once on SIGTERM (no drain) unless a test asks for one.
  if (!args.includes('--drain-timeout')) args = [...args, '--drain-timeout', '0'];
  const child = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_BACKTRACE: '1' } });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('server did not print its address within 20 s')), 20_000);
    let done = false;
    function fail(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${err.message}\n--- ${SERVER_BIN} ${args.join(' ')} ---\n${output}`));
    }
    const onData = (chunk) => {
      output += chunk;
      const m = LISTENING.exec(output);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        resolve({ child, address: m[1], output: () => output });
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('error', (err) => fail(err));
    child.on('exit', (code, signal) => fail(new Error(`server exited early (code ${code}, signal ${signal})`)));
  });
}

/**
 * Ends the test process if a suite overruns `ms` (plus a grace period), running `cleanup`
 * first (kill the server we started); `cleanup` also runs if the process exits early.
 * Returns the function that disarms both.
 */
export function watchdog(name, ms, cleanup = () => {}) {
  const timer = setTimeout(() => {
    console.error(`${name}: hard timeout; cleaning up and exiting`);
    cleanup();
    process.exit(1);
  }, ms + 15_000);
  timer.unref();
  process.on('exit', cleanup);
  return () => {
    clearTimeout(timer);
    process.off('exit', cleanup);
  };
}

/**
 * Sets up a suite against the real server: before the tests, spawns it with `args()` and
 * launches Chromium; after them, stops both; a watchdog guards the whole. Returns an object
 * whose `base` (http://address/) and `browser` are set once the suite has started.
 */
export function realServerSuite(name, timeoutMs, args) {
  const suite = { server: null, base: null, browser: null };
  const disarm = watchdog(name, timeoutMs, () => suite.server?.child.kill('SIGKILL'));
  before(async () => {
    suite.server = await startServer(args());
    suite.base = `http://${suite.server.address}/`;
    suite.browser = await launchChromium();
  });
  after(async () => {
    await suite.browser?.close().catch(() => {});
    await stopServer(suite.server?.child);
    disarm();
  });
  return suite;
}

/** Stops a server we spawned (by its own PID): SIGTERM, then SIGKILL after 3 s. */
export async function stopServer(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}

/** Opens `url` in a new page, recording console errors and uncaught exceptions in `page.problems`. */
export async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 960, height: 640 } });
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.problems.push(`console.error: ${msg.text()}`);
  });
  await page.goto(url, { waitUntil: 'load', timeout: 15_000 });
  return page;
}

/**
 * Evaluates `fn(arg)` in the page until it returns a truthy value; returns that value.
 * Fails after `timeout` ms with `what` and the last value seen.
 */
export async function pollPage(page, fn, { arg, timeout = 10_000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await page.evaluate(fn, arg);
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Polls a node-side predicate. */
export async function poll(fn, { timeout = 10_000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${name}.png` });
}
