// A drain seen from the page: the real server (2 s drain) is drained over its admin API from
// loopback while Chromium plays; the page shows the warning with the time left, then is closed
// with 1001, the warning strictly before the close. /readyz says 503 meanwhile.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { WEB_ROOT, openPage, pollPage, realServerSuite, screenshot } from './browser-helpers.js';

const HARD_TIMEOUT_MS = 60_000;

describe('draining the real server', { timeout: HARD_TIMEOUT_MS }, () => {
  const suite = realServerSuite('drain.test', HARD_TIMEOUT_MS, () => [
    '--bind', '127.0.0.1:0', '--web-root', WEB_ROOT, '--drain-timeout', '2',
  ]);

  test('the page is warned with the time left before it is closed with 1001', async () => {
    const page = await openPage(suite.browser, suite.base);
    await pollPage(page, () => window.game.state === 'connected' && window.game.ownPosition(), {
      timeout: 15_000,
      what: 'playing',
    });
    assert.equal((await fetch(`${suite.base}readyz`)).status, 200, 'ready before');
    const drain = await fetch(`${suite.base}api/drain`, { method: 'POST' });
    assert.equal(drain.status, 202, await drain.text());
    assert.equal((await fetch(`${suite.base}readyz`)).status, 503, 'not ready while draining');

    const warned = await pollPage(page, () => window.game.drainWarnings[0] ?? null, { timeout: 5000, what: 'a Draining warning' });
    assert.ok(warned.seconds >= 1 && warned.seconds <= 2, `seconds left: ${warned.seconds}`);
    const banner = await page.evaluate(() => document.getElementById('banner').textContent);
    assert.match(banner, /restarting: disconnecting in \d s/, 'the banner says so');
    await screenshot(page, 'draining');
    const close = await pollPage(page, () => window.game.lastClose && { ...window.game.lastClose, at: window.game.lastCloseAt }, {
      timeout: 8000,
      what: 'the close',
    });
    assert.equal(close.code, 1001, `closed as going away: ${JSON.stringify(close)}`);
    assert.ok(warned.at < close.at, 'warned before closed');
    assert.ok(close.at - warned.at >= 1000, `and given the time: ${Math.round(close.at - warned.at)} ms`);
  });
});
