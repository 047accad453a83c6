// End to end: the REAL server replays tests/recordings/fight.rec (`server replay FILE --serve`)
// to headless Chromium. Asserts the page is a spectator with the replay bar, ticks advance,
// the pause button freezes the shown tick, seeking with the tick input (forward, then back to
// 120) shows that tick and moves the recorded entities, the speed buttons take effect, and play
// resumes. Screenshots go to web-client/test-artifacts/.
//
// SERVER_BIN overrides the binary (default <repo>/target/debug/server); REPLAY_FILE the
// recording (default <repo>/tests/recordings/fight.rec).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { REPO_ROOT, WEB_ROOT, openPage, pollPage, realServerSuite, screenshot } from './browser-helpers.js';
import { formatTime } from '../src/replay-bar.js';

const HARD_TIMEOUT_MS = 120_000;
const RECORDING = process.env.REPLAY_FILE || join(REPO_ROOT, 'tests', 'recordings', 'fight.rec');
const SEEK_BACK_TO = 120;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('spectator client against the real replay server', { timeout: HARD_TIMEOUT_MS }, () => {
  const suite = realServerSuite('replay.test', HARD_TIMEOUT_MS, () => {
    assert.ok(existsSync(RECORDING), `recording not found at ${RECORDING} (set REPLAY_FILE)`);
    return ['replay', RECORDING, '--serve', '--bind', '127.0.0.1:0', '--web-root', WEB_ROOT];
  });

  const replay = (page) => page.evaluate(() => window.game.replay());
  const text = (page, sel) => page.locator(sel).textContent();
  const positions = (page) =>
    page.evaluate(() => Object.fromEntries(window.game.entities().map((e) => [e.id, [e.x, e.y, e.kind]])));

  test('spectate, pause, seek forward and back, change speed, play', async () => {
    const page = await openPage(suite.browser, `${suite.base}?name=watcher`);
    const first = await pollPage(page, () => window.game.state === 'connected' && window.game.replay(), {
      timeout: 15_000,
      what: 'a ReplayStatus from the replay server',
    });
    const who = await page.evaluate(() => ({ spectator: window.game.spectator, entityId: window.game.entityId, own: window.game.ownPosition() }));
    assert.deepEqual(who, { spectator: true, entityId: 0, own: null }, 'Welcome.entity_id 0: a spectator');
    assert.equal(await page.locator('#replay-bar').isVisible(), true);
    assert.ok(first.endTick > 0, `end tick ${first.endTick}`);
    const tickRate = await page.evaluate(() => window.game.tickRate);
    await pollPage(page, () => document.querySelectorAll('#scores tbody tr').length > 0, { what: 'scoreboard of the recording' });
    assert.equal(await page.locator('#scores tr.own').count(), 0, 'a spectator has no own scoreboard row');

    // Playing: the replay's tick advances and snapshots of recorded players arrive.
    if (first.paused) {
      await page.click('#replay-play');
    }
    await pollPage(page, (t) => !window.game.replay().paused && window.game.replay().tick > t && window.game.tick > t, {
      arg: first.tick,
      what: 'ticks advancing while playing',
    });
    const seen = await pollPage(page, () => window.game.entities().length > 0 && window.game.entities(), { what: 'recorded entities' });
    assert.ok(seen.some((e) => e.kind === 'Player'), `recorded players in view: ${JSON.stringify(seen)}`);
    await screenshot(page, 'replay-playing');

    // Pause: the shown tick holds still, in the hook and on the bar.
    await page.click('#replay-play');
    await pollPage(page, () => window.game.replay().paused, { what: 'paused after clicking #replay-play' });
    assert.equal(await text(page, '#replay-play'), 'Play');
    await sleep(100); // a snapshot already in flight may still land
    const held = await page.evaluate(() => ({ status: window.game.replay().tick, snapshot: window.game.tick }));
    const heldText = await text(page, '#replay-tick');
    assert.equal(heldText, String(held.status));
    await sleep(500);
    assert.deepEqual(await page.evaluate(() => ({ status: window.game.replay().tick, snapshot: window.game.tick })), held, 'tick frozen while paused');
    assert.equal(await text(page, '#replay-tick'), heldText, '#replay-tick frozen while paused');

    // Seek forward (tick input + Enter), then back to 120 (Go): the server answers with the
    // status and a snapshot of that tick; the entities are where the recording had them.
    const end = first.endTick;
    const back = Math.min(SEEK_BACK_TO, end);
    const ahead = Math.min(end, Math.max(back + 600, held.status + 300));
    await page.fill('#replay-seek-input', String(ahead));
    await page.press('#replay-seek-input', 'Enter');
    const atAhead = await pollPage(page, (t) => window.game.replay().tick === t && window.game.tick === t && window.game.replay(), {
      arg: ahead,
      what: `status and snapshot at tick ${ahead}`,
    });
    const before = await positions(page);
    await page.fill('#replay-seek-input', String(back));
    await page.click('#replay-seek-go');
    const r = await pollPage(page, (t) => window.game.tick === t && window.game.replay().tick === t && window.game.replay(), {
      arg: back,
      what: `status and snapshot at tick ${back} after seeking back`,
    });
    assert.equal(atAhead.paused, true, 'still paused after a seek');
    assert.equal(r.paused, true, 'still paused after seeking back');
    assert.equal(await text(page, '#replay-tick'), String(back));
    assert.equal(await text(page, '#replay-time'), `${formatTime(back, tickRate)} / ${formatTime(end, tickRate)}`);
    assert.equal(await page.inputValue('#replay-seek'), String(back), 'slider at the new tick');
    const after120 = await positions(page);
    const moved = Object.keys(after120).filter((id) => !before[id] || before[id][0] !== after120[id][0] || before[id][1] !== after120[id][1]);
    assert.ok(
      moved.length > 0 || Object.keys(before).length !== Object.keys(after120).length,
      `entities differ between tick ${ahead} and tick ${back}: ${JSON.stringify({ before, after120 })}`,
    );
    await sleep(400);
    assert.equal(await page.evaluate(() => window.game.tick), back, 'no snapshots after the seek while paused');
    await screenshot(page, 'replay-paused-120');

    // Speed 2×, then play: ticks advance again, roughly twice as fast as real time.
    await page.click('#replay-speed-200');
    await pollPage(page, () => window.game.replay().speedPercent === 200, { what: 'speed 200 in the status' });
    assert.equal(await page.getAttribute('#replay-speed-200', 'aria-pressed'), 'true');
    assert.equal(await page.getAttribute('#replay-speed-100', 'aria-pressed'), 'false');
    await page.click('#replay-play');
    await pollPage(page, () => !window.game.replay().paused, { what: 'playing again' });
    const t0 = await replay(page);
    const start = Date.now();
    await pollPage(page, (t) => window.game.replay().tick > t + 10 && window.game.tick > t + 10, { arg: t0.tick, what: 'ticks advancing after play' });
    await sleep(1000);
    const t1 = await replay(page);
    const rate = (t1.tick - t0.tick) / ((Date.now() - start) / 1000);
    if (t1.tick < end) {
      assert.ok(rate > tickRate * 2 * 0.6 && rate < tickRate * 2 * 1.4, `about ${2 * tickRate} ticks/s at 2×, got ${rate.toFixed(1)}`);
    }
    await screenshot(page, 'replay-2x');

    const stats = await page.evaluate(() => ({ state: window.game.state, decodeErrors: window.game.decodeErrors }));
    assert.deepEqual(stats, { state: 'connected', decodeErrors: 0 });
    assert.deepEqual(page.problems, [], 'no page errors or console errors');
    await page.close();
  });
});
