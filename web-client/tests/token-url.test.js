// Tokens stay out of URLs, against the REAL server binary with auth on, in Chromium: the game
// page opened as /#token=… joins under the token's name, the admin page opened as
// /admin#token=… loads its data; every request either page makes (and every WebSocket it
// opens) is recorded, and none carries the token in its URL or Referer; the address bar loses
// it; a reload works from sessionStorage. A page opened with ?token= shows a warning and does
// not use it. The admin plots' time axis reads wall-clock time of day in the page's time zone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { WEB_ROOT, mintToken, pollPage, realServerSuite, screenshot } from './browser-helpers.js';

const HARD_TIMEOUT_MS = 120_000;
/** A zone far from UTC with a 45-minute offset: a UTC or 1970 label cannot pass for it. */
const TIME_ZONE = 'Pacific/Chatham';

const dir = mkdtempSync(join(tmpdir(), 'arena-token-url-'));
const secret = join(dir, 'secret');
writeFileSync(secret, 'the token-url test secret, longer than thirty-two bytes\n');
const mint = (name, role) => mintToken(secret, name, role);

/**
 * Records what `page` sends: every HTTP request (URL as sent, Referer, Authorization) and every
 * WebSocket URL. Returns a function resolving to { requests, sockets }.
 */
function recordTraffic(page) {
  const requests = [];
  const sockets = [];
  page.on('request', (request) => {
    requests.push(
      request.allHeaders().then(
        (headers) => ({ url: request.url(), referer: headers.referer ?? null, authorization: headers.authorization ?? null, navigation: request.isNavigationRequest() }),
        () => ({ url: request.url(), referer: null, authorization: null, navigation: request.isNavigationRequest() }),
      ),
    );
  });
  page.on('websocket', (ws) => sockets.push(ws.url()));
  return async () => ({ requests: await Promise.all(requests), sockets: [...sockets] });
}

/** Whether `text` holds `token` or either of its token-specific parts (claims, signature). */
function leaks(text, token) {
  if (!text) return false;
  const [, claims, signature] = token.split('.');
  return text.includes(token) || text.includes(claims) || text.includes(signature);
}

/** Asserts that no recorded request URL or Referer, and no socket URL, carries `token`. */
function assertNoLeak({ requests, sockets }, token, what) {
  for (const r of requests) {
    assert.ok(!leaks(r.url, token), `${what}: the token is in a request URL: ${r.url}`);
    assert.ok(!leaks(r.referer, token), `${what}: the token is in the Referer of ${r.url}`);
  }
  for (const url of sockets) assert.ok(!leaks(url, token), `${what}: the token is in a WebSocket URL: ${url}`);
}

/** Seconds since local midnight of `HH:MM:SS`. */
const secondsOfDay = (label) => {
  const [h, m, s] = label.split(':').map(Number);
  return h * 3600 + m * 60 + s;
};

/** Local time of day (HH:MM:SS, 24 h) of unix ms `ms` in TIME_ZONE, computed here in Node. */
const zoneTimeOfDay = (ms) =>
  new Intl.DateTimeFormat('en-GB', { timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(ms);

describe('tokens out of URLs, against the real server with auth', { timeout: HARD_TIMEOUT_MS }, () => {
  const tokens = {};
  const suite = realServerSuite('token-url.test', HARD_TIMEOUT_MS, () => {
    Object.assign(tokens, { zoe: mint('zoe', 'player'), root: mint('root', 'admin') });
    return ['--bind', '127.0.0.1:0', '--web-root', WEB_ROOT, '--auth-secret-file', secret];
  });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

  test('the game page opened as /#token= joins under its name; no request carries it; a reload keeps it', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 960, height: 640 } });
    try {
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (err) => problems.push(err.message));
      const traffic = recordTraffic(page);
      await page.goto(`${suite.base}?name=mallory#token=${tokens.zoe}`, { waitUntil: 'load' });
      const ownRow = () =>
        pollPage(page, () => window.game.state === 'connected' && window.game.scoreboard().find((r) => r.client === window.game.clientId), {
          timeout: 15_000,
          what: 'connected, with an own scoreboard row',
        });
      assert.equal((await ownRow()).name, 'zoe', 'the token names the player, not ?name=');
      const url = await page.evaluate(() => location.href);
      assert.equal(url, `${suite.base}?name=mallory`, 'the token left the address bar; the rest stayed');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('arena.token')), tokens.zoe, 'kept for this tab');
      assert.equal(await page.isHidden('#token-warning'), true, 'no warning for a #token=');

      await page.reload({ waitUntil: 'load' });
      assert.equal((await ownRow()).name, 'zoe', 'after a reload, from sessionStorage');
      assert.ok(!(await page.evaluate(() => location.href)).includes('token'), 'still not in the address bar');

      const seen = await traffic();
      const documents = seen.requests.filter((r) => r.navigation);
      assert.equal(documents.length, 2, `the load and the reload: ${JSON.stringify(documents)}`);
      assert.ok(seen.requests.some((r) => r.url.endsWith('/src/main.js')), 'the modules were recorded too');
      assert.ok(seen.sockets.length >= 2, `a socket per load: ${seen.sockets}`);
      assertNoLeak(seen, tokens.zoe, 'game page');
      assert.ok(!leaks(suite.server.output(), tokens.zoe), 'nor is it in the server log');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the admin page opened as /admin#token= loads; its plots read local wall-clock time; a reload keeps it', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 1100, height: 900 }, timezoneId: TIME_ZONE, locale: 'en-GB' });
    try {
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (err) => problems.push(err.message));
      const traffic = recordTraffic(page);
      await page.goto(`${suite.base}admin#token=${tokens.root}`, { waitUntil: 'load' });
      await pollPage(page, () => window.admin.tickPoints() >= 3, { timeout: 15_000, what: 'three points of tick time' });
      assert.equal(await page.textContent('#message'), '', 'no error shown');
      assert.equal(await page.evaluate(() => location.href), `${suite.base}admin`, 'the token left the address bar');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('arena.admin.token')), tokens.root);
      assert.equal(await page.isHidden('#token-warning'), true);

      // The x values are unix seconds of the polls, so the scale spans the last few seconds.
      const { range, labels, now } = await page.evaluate(() => ({ range: window.admin.xRange(), labels: window.admin.timeLabels(), now: Date.now() }));
      assert.ok(range.min > now / 1000 - 60 && range.max <= now / 1000 + 1 && range.min <= range.max, `x range ${JSON.stringify(range)} vs now ${now / 1000}`);
      assert.ok(labels.length > 0, 'the axis drew labels');
      assert.equal(new Set(labels).size, labels.length, `no label repeats: ${labels}`);
      const expected = secondsOfDay(zoneTimeOfDay(now));
      for (const label of labels) {
        assert.match(label, /^\d{2}:\d{2}:\d{2}$/, `a time of day: ${labels}`);
        const apart = Math.abs(secondsOfDay(label) - expected);
        assert.ok(Math.min(apart, 86_400 - apart) <= 120, `${label} is ${TIME_ZONE} time now (${zoneTimeOfDay(now)}): ${labels}`);
      }
      await screenshot(page, 'admin-wall-clock');

      await page.reload({ waitUntil: 'load' });
      await pollPage(page, () => window.admin.tickPoints() >= 2, { timeout: 15_000, what: 'points after the reload' });
      assert.equal(await page.textContent('#message'), '', 'after a reload, from sessionStorage');

      const seen = await traffic();
      const state = seen.requests.filter((r) => r.url.endsWith('/api/admin/state'));
      assert.ok(state.length >= 5, `polled: ${state.length}`);
      assert.ok(state.every((r) => r.authorization === `Bearer ${tokens.root}`), 'the token rides in Authorization');
      assert.ok(seen.requests.some((r) => r.url.endsWith('/vendor/uplot/uPlot.esm.js')), 'the modules were recorded too');
      assertNoLeak(seen, tokens.root, 'admin page');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a page opened with ?token= warns, does not use it, and sends it nowhere else', async () => {
    const context = await suite.browser.newContext({ viewport: { width: 960, height: 640 } });
    try {
      const game = await context.newPage();
      const gameTraffic = recordTraffic(game);
      await game.goto(`${suite.base}?name=q&token=${tokens.zoe}`, { waitUntil: 'load' });
      await game.waitForSelector('#token-warning:not([hidden])', { timeout: 5000 });
      assert.match(await game.textContent('#token-warning'), /\?token=.*not used.*\/#token=/s);
      assert.equal(await game.evaluate(() => location.href), `${suite.base}?name=q`, 'removed from the address bar');
      assert.equal(await game.evaluate(() => sessionStorage.getItem('arena.token')), null, 'not kept');
      const close = await pollPage(game, () => window.game.lastClose, { what: 'the refused socket' });
      assert.equal(close.code, 1006, 'no token was sent, so the upgrade was refused');
      assert.notEqual(await game.evaluate(() => window.game.state), 'connected');
      await screenshot(game, 'query-token-warning');

      const admin = await context.newPage();
      const adminTraffic = recordTraffic(admin);
      await admin.goto(`${suite.base}admin?token=${tokens.root}`, { waitUntil: 'load' });
      await admin.waitForSelector('#token-warning:not([hidden])', { timeout: 5000 });
      assert.match(await admin.textContent('#token-warning'), /\/admin#token=/);
      const message = await pollPage(admin, () => document.getElementById('message').textContent, { what: 'the refusal' });
      assert.match(message, /^401: .*#token=ADMIN_TOKEN/, 'the state was refused: no token sent');
      assert.equal(await admin.evaluate(() => window.admin.points()), 0);

      // The link's own request carried it (that is the leak); nothing after it does.
      for (const [traffic, token, what] of [[gameTraffic, tokens.zoe, 'game'], [adminTraffic, tokens.root, 'admin']]) {
        const seen = await traffic();
        const [first, ...rest] = seen.requests;
        assert.ok(first.navigation && leaks(first.url, token), `${what}: the first request is the link itself`);
        assert.ok(rest.length > 0, `${what}: its modules were recorded`);
        assertNoLeak({ requests: rest, sockets: seen.sockets }, token, `${what} after ?token=`);
        assert.ok(rest.every((r) => r.authorization === null), `${what}: not sent as a header either`);
      }
    } finally {
      await context.close();
    }
  });
});
