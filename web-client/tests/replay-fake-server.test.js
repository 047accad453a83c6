// The client as a spectator in headless Chromium against tests/fake-server.js in replay mode
// (a scripted recording, so every position is known): spectator mode sends no inputs and fits
// the map; the replay bar appears with the first ReplayStatus and drives play/pause, speed and
// seek through its buttons and inputs only; the shown state follows the server's answers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { replayEntities, startFakeServer } from './fake-server.js';
import { WEB_ROOT, launchChromium, openPage, pollPage, screenshot, watchdog } from './browser-helpers.js';

const HARD_TIMEOUT_MS = 90_000;
const END_TICK = 3600; // one minute at 60 Hz
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('spectator client against a fake replay server', { timeout: HARD_TIMEOUT_MS }, () => {
  let server;
  let browser;
  const disarm = watchdog('replay-fake-server', HARD_TIMEOUT_MS);

  before(async () => {
    server = await startFakeServer({ webRoot: WEB_ROOT, replay: { endTick: END_TICK } });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    disarm();
  });

  /** A spectator page with the bar shown; returns { page, client }. */
  async function spectate(name) {
    const page = await openPage(browser, `${server.url}?name=${name}`);
    await pollPage(page, () => window.game.replay() !== null && window.game.tick !== null, { what: `${name} has a ReplayStatus` });
    const clientId = await page.evaluate(() => window.game.clientId);
    const client = server.clients.find((c) => c.clientId === clientId);
    assert.ok(client);
    return { page, client };
  }

  const text = (page, sel) => page.locator(sel).textContent();
  /** Recorded x of entity `id` at `tick`. */
  const xAt = (tick, id) => replayEntities(tick).find((e) => e.id === id).pos.x;

  test('spectator: no own player, no inputs, bar hidden until the first ReplayStatus', async () => {
    server.state.holdStatus = true;
    let page;
    try {
      page = await openPage(browser, `${server.url}?name=watcher`);
      await pollPage(page, () => window.game.state === 'connected' && window.game.tick !== null, { what: 'snapshots arriving' });
      const g = await page.evaluate(() => ({
        spectator: window.game.spectator,
        entityId: window.game.entityId,
        own: window.game.ownPosition(),
        replay: window.game.replay(),
      }));
      assert.deepEqual(g, { spectator: true, entityId: 0, own: null, replay: null });
      assert.equal(await page.locator('#replay-bar').isHidden(), true, 'no bar before a ReplayStatus');
      assert.match(await text(page, '#status'), /spectating as watcher/);
    // Our client id (1, the first) is also the recorded red's: no scoreboard row is "ours".
    await pollPage(page, () => document.querySelectorAll('#scores tbody tr').length === 2, { what: 'scoreboard rows' });
    assert.equal(await page.locator('#scores tr.own').count(), 0, 'a spectator has no own scoreboard row');
    } finally {
      server.state.holdStatus = false;
    }
    await pollPage(page, () => window.game.replay() !== null, { what: 'first ReplayStatus' });
    assert.equal(await page.locator('#replay-bar').isVisible(), true, 'bar shown after a ReplayStatus');

    // Keys that move a player do nothing here: not a single Input in a second and a half.
    const clientId = await page.evaluate(() => window.game.clientId);
    const client = server.clients.find((c) => c.clientId === clientId);
    await page.keyboard.down('d');
    await page.mouse.move(700, 200);
    await page.mouse.down();
    await sleep(1500);
    await page.mouse.up();
    await page.keyboard.up('d');
    assert.equal(client.inputs, 0, 'a spectator sends no Input');
    assert.ok(client.pings >= 1, 'but still pings');
    // Both recorded players are seen, with their names.
    const ents = await page.evaluate(() => window.game.entities());
    assert.deepEqual(ents.map((e) => e.id), [3, 10, 11]);
    const names = await page.evaluate(() => window.game.scoreboard().map((r) => r.name).sort());
    assert.deepEqual(names, ['blue', 'red']);
    await screenshot(page, 'fake-replay-spectator');
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test('readout shows tick / end tick and m:ss; speed buttons send Speed and highlight it', async () => {
    const { page, client } = await spectate('speeds');
    const r = await page.evaluate(() => window.game.replay());
    assert.equal(r.endTick, END_TICK);
    assert.equal(r.speedPercent, 100);
    assert.equal(r.paused, false);
    assert.equal(await text(page, '#replay-end'), String(END_TICK));
    assert.equal(await page.getAttribute('#replay-speed-100', 'aria-pressed'), 'true');

    await page.click('#replay-speed-200');
    await pollPage(page, () => window.game.replay().speedPercent === 200, { what: 'speed 200 shown' });
    assert.deepEqual(client.commands.at(-1), { type: 'Speed', percent: 200 });
    const pressed = await page.$$eval('#replay-bar [data-speed]', (bs) => bs.map((b) => [b.id, b.getAttribute('aria-pressed'), b.classList.contains('active')]));
    assert.deepEqual(pressed, [
      ['replay-speed-50', 'false', false],
      ['replay-speed-100', 'false', false],
      ['replay-speed-200', 'true', true],
      ['replay-speed-400', 'false', false],
    ]);
    // At 2× the replay gains ~120 ticks per real second.
    const t0 = await page.evaluate(() => window.game.replay().tick);
    await sleep(1000);
    const t1 = await page.evaluate(() => window.game.replay().tick);
    assert.ok(t1 - t0 >= 90 && t1 - t0 <= 150, `~120 ticks a second at 2×, got ${t1 - t0}`);

    for (const [id, percent] of [['#replay-speed-50', 50], ['#replay-speed-400', 400], ['#replay-speed-100', 100]]) {
      await page.click(id);
      await pollPage(page, (p) => window.game.replay().speedPercent === p, { arg: percent, what: `speed ${percent}` });
    }
    assert.deepEqual(client.commands.map((c) => c.percent), [200, 50, 400, 100]);

    // Readout: tick 1530 at 60 Hz is 0:25.
    await page.fill('#replay-seek-input', '1530');
    await page.click('#replay-seek-go');
    await pollPage(page, () => window.game.replay().tick >= 1530, { what: 'seeked to 1530' });
    await page.click('#replay-play'); // pause so the readout holds still
    await pollPage(page, () => window.game.replay().paused, { what: 'paused' });
    const tick = await page.evaluate(() => window.game.replay().tick);
    assert.equal(await text(page, '#replay-tick'), String(tick));
    const secs = Math.floor(tick / 60);
    assert.equal(await text(page, '#replay-time'), `0:${String(secs).padStart(2, '0')} / 1:00`);
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test('pause freezes the tick, seek (input and slider, back and forth) moves the world, play resumes', async () => {
    const { page, client } = await spectate('seeker');
    await pollPage(page, () => window.game.replay().tick > 30, { what: 'ticks advancing' });
    assert.equal(await text(page, '#replay-play'), 'Pause');

    await page.click('#replay-play');
    await pollPage(page, () => window.game.replay().paused === true, { what: 'paused status' });
    assert.deepEqual(client.commands.at(-1), { type: 'Pause' });
    assert.equal(await text(page, '#replay-play'), 'Play');
    const held = await page.evaluate(() => ({ tick: window.game.replay().tick, newest: window.game.tick }));
    const heldText = await text(page, '#replay-tick');
    await sleep(600);
    assert.deepEqual(await page.evaluate(() => ({ tick: window.game.replay().tick, newest: window.game.tick })), held, 'tick frozen');
    assert.equal(await text(page, '#replay-tick'), heldText);
    assert.equal(heldText, String(held.tick));

    // Seek forward with the tick input (Enter), then back with Go: ticks go backwards and the
    // client follows (interpolation reset), positions are those of the recording.
    await page.fill('#replay-seek-input', '900');
    await page.press('#replay-seek-input', 'Enter');
    await pollPage(page, () => window.game.replay().tick === 900 && window.game.tick === 900, { what: 'at tick 900' });
    await page.fill('#replay-seek-input', '120');
    await page.click('#replay-seek-go');
    await pollPage(page, () => window.game.replay().tick === 120 && window.game.tick === 120, { what: 'back at tick 120' });
    assert.deepEqual(client.commands.slice(-2), [{ type: 'Seek', tick: 900 }, { type: 'Seek', tick: 120 }]);
    const at120 = await page.evaluate(() => window.game.entities());
    assert.equal(at120.find((e) => e.id === 10).x, xAt(120, 10));
    assert.equal(at120.find((e) => e.id === 11).x, xAt(120, 11));
    assert.equal(await text(page, '#replay-tick'), '120');
    assert.equal(await page.inputValue('#replay-seek'), '120', 'slider follows the status');
    assert.equal(await page.evaluate(() => window.game.replay().paused), true, 'a seek keeps the pause');
    await screenshot(page, 'fake-replay-paused-120');

    // Out of range is clamped to the end; garbage is not sent.
    const n = client.commands.length;
    await page.fill('#replay-seek-input', '99999');
    await page.click('#replay-seek-go');
    await pollPage(page, (e) => window.game.replay().tick === e, { arg: END_TICK, what: 'clamped to end' });
    assert.deepEqual(client.commands.at(-1), { type: 'Seek', tick: END_TICK });
    await page.evaluate(() => {
      const i = document.getElementById('replay-seek-input');
      i.type = 'text'; // number inputs refuse letters; make sure the client does too
      i.value = '12abc';
    });
    await page.click('#replay-seek-go');
    await sleep(200);
    assert.equal(client.commands.length, n + 1, 'no Seek for "12abc"');

    // The slider: moved and released → one Seek.
    await page.evaluate(() => {
      const s = document.getElementById('replay-seek');
      s.value = '600';
      s.dispatchEvent(new Event('input', { bubbles: true }));
      s.dispatchEvent(new Event('change', { bubbles: true }));
    });
    await pollPage(page, () => window.game.replay().tick === 600 && window.game.tick === 600, { what: 'slider seek to 600' });
    assert.deepEqual(client.commands.at(-1), { type: 'Seek', tick: 600 });

    // Play: ticks advance again; Space (spectators only) pauses and resumes too.
    await page.click('#replay-play');
    await pollPage(page, () => !window.game.replay().paused && window.game.replay().tick > 620, { what: 'playing after 600' });
    await page.keyboard.press('Space');
    await pollPage(page, () => window.game.replay().paused, { what: 'Space paused' });
    await page.keyboard.press('Space');
    await pollPage(page, () => !window.game.replay().paused, { what: 'Space resumed' });
    assert.deepEqual(client.commands.slice(-3).map((c) => c.type), ['Play', 'Pause', 'Play']);
    assert.equal(client.inputs, 0);
    assert.deepEqual(page.problems, []);
    await page.close();
  });

  test('the page draws the whole map when spectating', async () => {
    const { page } = await spectate('fit');
    await page.click('#replay-play');
    await pollPage(page, () => window.game.replay().paused, { what: 'paused' });
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    // The 2000×2000 map fits 960×640 minus the insets (40 top, 64 bottom): 536 px tall, so
    // floor pixels show at both the map's top and bottom edges, and void outside them.
    const px = await page.evaluate(() => {
      const c = document.getElementById('view');
      const ctx = c.getContext('2d');
      const dpr = window.devicePixelRatio || 1;
      const at = (x, y) => Array.from(ctx.getImageData(Math.round(x * dpr), Math.round(y * dpr), 1, 1).data.slice(0, 3));
      return { topEdge: at(480 - 20, 44), bottomEdge: at(480 - 20, 572), above: at(480, 20), left: at(100, 300) };
    });
    const floor = [0x1d, 0x23, 0x30];
    const voidColor = [0x11, 0x14, 0x1a];
    assert.deepEqual(px.topEdge, floor, 'map top edge in view');
    assert.deepEqual(px.bottomEdge, floor, 'map bottom edge in view');
    assert.deepEqual(px.above, voidColor, 'outside the map above it');
    assert.deepEqual(px.left, voidColor, 'outside the map left of it');
    await screenshot(page, 'fake-replay-fit');
    await page.close();
  });
});
