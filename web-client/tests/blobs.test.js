// End to end: the REAL server binary runs the blobs game (`--game blobs`, recording) and
// serves this client; two headless Chromium pages play it. Asserts the page loads the blobs
// module by the schema's name, steers its blob toward the mouse, sees pellets (only those
// in view: blobs' default view radius) and the other page's named blob, decodes every
// message; then that the recording the server wrote replays bit for bit, and that the same
// server, replaying it to a browser (`server replay FILE --serve`), shows its blobs and
// pellets to a spectator page as the tick advances.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { SERVER_BIN, WEB_ROOT, openPage, pollPage, realServerSuite, screenshot, startServer, stopServer } from './browser-helpers.js';

const HARD_TIMEOUT_MS = 120_000;
const recordDir = mkdtempSync(join(tmpdir(), 'blobs-rec-'));

describe('blobs in the browser against the real server', { timeout: HARD_TIMEOUT_MS }, () => {
  const args = () => ['--bind', '127.0.0.1:0', '--web-root', WEB_ROOT, '--game', 'blobs', '--seed', '3', '--record', recordDir];
  const suite = realServerSuite('blobs.test', HARD_TIMEOUT_MS, args);

  test('a blob follows the mouse, sees pellets near it and the other player, and the session replays', async () => {
    const first = await openPage(suite.browser, `${suite.base}?name=ann`);
    const start = await pollPage(first, () => window.game.state === 'connected' && window.game.ownPosition(), {
      timeout: 15_000,
      what: 'connected with an own blob',
    });
    const me = await first.evaluate(() => ({ clientId: window.game.clientId, entityId: window.game.entityId }));
    const own = await first.evaluate((id) => window.game.entities().find((e) => e.id === id), me.entityId);
    assert.equal(own.kind, 'Blob');
    assert.equal(own.name, 'ann', 'the name travels as the kind\'s text field');
    assert.ok(Math.abs(own.mass - 10) < 0.2, `starts at mass 10: ${own.mass}`);
    assert.ok(Number.isInteger(own.hue) && own.hue >= 0 && own.hue < 256, `a hue byte: ${own.hue}`);
    const pellets = await first.evaluate(() => window.game.entities().filter((e) => e.kind === 'Pellet'));
    assert.ok(pellets.length > 20 && pellets.length < 1500, `only the pellets in view: ${pellets.length} of 1500`);
    assert.ok(pellets.every((p) => Math.hypot(p.x - start.x, p.y - start.y) < 1200 * 1.1 + 1), 'within the view radius');

    // The blob sits at the canvas centre; point 200 px to its right and it heads there.
    const box = await first.evaluate(() => {
      const r = document.getElementById('view').getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
    await first.mouse.move(box.x + 200, box.y);
    await new Promise((r) => setTimeout(r, 1000));
    const moved = await first.evaluate(() => window.game.ownPosition());
    const dx = moved.x - start.x;
    const dy = moved.y - start.y;
    assert.ok(dx > 60, `moved toward the pointer: ${JSON.stringify(start)} → ${JSON.stringify(moved)}`);
    assert.ok(Math.abs(dy) < dx / 3, `mostly along +x: dx ${dx}, dy ${dy}`);

    const second = await openPage(suite.browser, `${suite.base}?name=bob`);
    await pollPage(second, () => window.game.state === 'connected' && window.game.ownPosition(), {
      timeout: 15_000,
      what: 'second page connected',
    });
    // Bob sees ann's blob if it is in view; both always see each other on the scoreboard.
    await pollPage(second, () => window.game.scoreboard().length === 2, { what: 'two rows on the scoreboard' });
    await first.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await screenshot(first, 'blobs-first');
    for (const page of [first, second]) {
      const stats = await page.evaluate(() => ({ decodeErrors: window.game.decodeErrors, state: window.game.state }));
      assert.deepEqual(stats, { decodeErrors: 0, state: 'connected' });
      assert.deepEqual(page.problems, [], 'no page errors or console errors');
    }
    await first.close();
    await second.close();
    await stopServer(suite.server.child);
    const files = readdirSync(recordDir).filter((f) => f.endsWith('.rec'));
    assert.equal(files.length, 1, `one recording: ${files}`);
    const recording = join(recordDir, files[0]);
    const out = execFileSync(SERVER_BIN, ['replay', recording], { encoding: 'utf8' });
    assert.match(out, /game blobs/);
    assert.match(out, /checksums verified/);

    // The recording, replayed to a browser: a spectator sees the recorded blobs by name, and
    // pellets, with the replay's tick advancing.
    const replayServer = await startServer(['replay', recording, '--serve', '--bind', '127.0.0.1:0', '--web-root', WEB_ROOT]);
    try {
      const viewer = await openPage(suite.browser, `http://${replayServer.address}/?name=viewer`);
      const status = await pollPage(viewer, () => window.game.state === 'connected' && window.game.replay(), {
        timeout: 15_000,
        what: 'a ReplayStatus from the replay server',
      });
      assert.equal(await viewer.evaluate(() => window.game.spectator), true);
      if (status.paused) await viewer.click('#replay-play');
      await pollPage(viewer, (t) => window.game.tick > t, { arg: status.tick, what: 'the replay tick advancing' });
      const seen = await pollPage(
        viewer,
        () => {
          const all = window.game.entities();
          const blobs = all.filter((e) => e.kind === 'Blob').map((e) => e.name).sort();
          return blobs.length === 2 && all.some((e) => e.kind === 'Pellet') && blobs;
        },
        { timeout: 15_000, what: "both recorded blobs and some pellets in the replay" },
      );
      assert.deepEqual(seen, ['ann', 'bob']);
      await screenshot(viewer, 'blobs-replay');
      assert.deepEqual(await viewer.evaluate(() => window.game.decodeErrors), 0);
      assert.deepEqual(viewer.problems, [], 'no page errors or console errors in the replay');
      await viewer.close();
    } finally {
      await stopServer(replayServer.child);
    }
    rmSync(recordDir, { recursive: true, force: true });
  });
});
