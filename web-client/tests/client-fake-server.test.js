// The real client in headless Chromium against tests/fake-server.js, for behaviour the real
// server cannot be made to show on demand: an undecodable message or a snapshot that does not
// apply makes the page reconnect for a keyframe (never showing corrupt state), closes are
// recorded and shown, reconnects back off, VersionMismatch stops retrying, inputs are shaped
// and paced.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startFakeServer } from './fake-server.js';
import { PROTOCOL_VERSION } from '../src/protocol.js';
import { WEB_ROOT, launchChromium, openPage, poll, pollPage, screenshot, watchdog } from './browser-helpers.js';

const HARD_TIMEOUT_MS = 90_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('client against a scripted fake server', { timeout: HARD_TIMEOUT_MS }, () => {
  let server;
  let browser;
  const disarm = watchdog('client-fake-server', HARD_TIMEOUT_MS);

  before(async () => {
    server = await startFakeServer({ webRoot: WEB_ROOT });
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop().catch(() => {});
    disarm();
  });

  async function connectedPage(name) {
    const page = await openPage(browser, `${server.url}?name=${name}`);
    await pollPage(page, () => window.game.state === 'connected' && window.game.ownPosition() !== null, {
      what: `${name} connected with an own position`,
    });
    const clientId = await page.evaluate(() => window.game.clientId);
    const client = server.clients.find((c) => c.clientId === clientId);
    assert.ok(client, `fake server knows client ${clientId}`);
    assert.equal(client.name, name, 'Hello carried the ?name= parameter');
    const mode = await page.evaluate(() => ({ spectator: window.game.spectator, replay: window.game.replay() }));
    assert.deepEqual(mode, { spectator: false, replay: null }, 'a live player, not a spectator');
    assert.equal(await page.locator('#replay-bar').isHidden(), true, 'no replay bar on a live server');
    return { page, client };
  }

  const pageErrors = (page) => page.problems.filter((p) => p.startsWith('pageerror'));

  test('an undecodable message makes the page reconnect and log why; text frames are ignored', async () => {
    const { page, client } = await connectedPage('garbage');
    client.peer.frame(0x1, Buffer.from('hello')); // text frame: not a game message, ignored
    client.peer.send(new Uint8Array([0x09])); // unknown variant: the stream cannot be followed
    await pollPage(page, () => window.game.decodeErrors === 1, { what: 'one decode error counted' });
    const again = await poll(() => server.clients.find((c) => c.name === 'garbage' && c !== client && c.baseline), {
      what: 'a new connection of the same page, with a keyframe sent',
    });
    await pollPage(page, (id) => window.game.state === 'connected' && window.game.clientId === id, {
      arg: again.clientId,
      what: 'playing again on the new connection',
    });
    assert.deepEqual(pageErrors(page), []);
    assert.ok(page.problems.some((p) => p.includes('unknown ServerMessage variant 9')), 'the reason is logged');
    await page.close();
  });

  test('a snapshot that does not apply is never shown: the page reconnects and shows the keyframe', async () => {
    const { page, client } = await connectedPage('corrupt');
    server.state.corruptNext = true;
    await pollPage(page, () => window.game.decodeErrors === 1, { what: 'the bad delta refused' });
    const again = await poll(() => server.clients.find((c) => c.name === 'corrupt' && c !== client && c.baseline), {
      what: 'reconnected and sent a keyframe',
    });
    await pollPage(page, (id) => window.game.state === 'connected' && window.game.clientId === id, {
      arg: again.clientId,
      what: 'connected again',
    });
    // Nobody moves: what the page shows is exactly the world the server sent the new connection.
    const shown = await page.evaluate(() => window.game.entities().map((e) => ({ id: e.id, x: e.x, y: e.y })));
    const sent = again.baseline.entities.map((r) => ({ id: r.id, x: r.pos[0] / 4, y: r.pos[1] / 4 }));
    assert.deepEqual(shown, sent);
    assert.ok(page.problems.some((p) => p.includes('delta based on tick')), 'the reason is logged');
    assert.deepEqual(pageErrors(page), []);
    await page.close();
  });

  test('inputs: one per tick, normalized diagonal, aim toward the pointer, Space fires', async () => {
    const { page, client } = await connectedPage('inputs');
    // The camera centres on the own player: the pointer straight below it aims at +π/2.
    await page.mouse.move(480, 520);
    await poll(() => client.lastInput && Math.abs(client.lastInput.aim - Math.PI / 2) < 1e-3, {
      what: 'aim of +π/2 with the pointer below the player',
    });
    await page.keyboard.down('d');
    await page.keyboard.down('s');
    await page.keyboard.down('Space');
    await poll(() => client.lastInput?.movement.x > 0 && client.lastInput?.buttons === 1, { what: 'held keys in Input' });
    const { movement, buttons } = client.lastInput;
    assert.ok(Math.abs(movement.x - Math.SQRT1_2) < 1e-6 && Math.abs(movement.y - Math.SQRT1_2) < 1e-6, JSON.stringify(movement));
    assert.ok(Math.hypot(movement.x, movement.y) <= 1 + 1e-6);
    assert.equal(buttons, 1);
    const [n0, seq0] = [client.inputs, client.lastInput.seq];
    await sleep(1000);
    const [n1, seq1] = [client.inputs, client.lastInput.seq];
    assert.ok(n1 - n0 >= 50 && n1 - n0 <= 70, `~60 inputs per second, got ${n1 - n0}`);
    assert.equal(seq1 - seq0, n1 - n0, 'seq increments by one per input');
    await page.keyboard.up('d');
    await page.keyboard.up('s');
    await page.keyboard.up('Space');
    await poll(() => client.lastInput.movement.x === 0 && client.lastInput.buttons === 0, { what: 'keys released' });
    assert.deepEqual(client.commands, [], 'Space fires on a live server; it sends no ReplayControl');
    assert.equal(await page.evaluate(() => window.game.state), 'connected');
    assert.ok((await page.evaluate(() => window.game.rtt)) !== null, 'RTT measured from Pong');
    assert.ok(client.pings >= 1);
    await page.close();
  });

  test('a server close is recorded and shown, then the client reconnects', async () => {
    const { page, client } = await connectedPage('reconnect');
    const before = server.clients.length;
    server.disconnect(client, 'ServerShutdown', 1001, 'server stopping');
    const close = await pollPage(page, () => window.game.state !== 'connected' && window.game.lastClose, {
      what: 'close recorded',
    });
    assert.deepEqual(close, { code: 1001, reason: 'server stopping' });
    // The banner is drawn by the next animation frame, which may come after the state changed.
    const banner = await pollPage(page, () => document.querySelector('#banner')?.textContent || null, {
      what: 'the banner drawn',
    });
    assert.match(banner, /1001: server stopping/);
    assert.match(banner, /reconnecting/);
    await screenshot(page, 'fake-reconnecting');
    await pollPage(page, (old) => window.game.state === 'connected' && window.game.clientId !== old, {
      arg: client.clientId,
      timeout: 5000,
      what: 'reconnected as a new client',
    });
    assert.equal(server.clients.length, before + 1, 'exactly one reconnect');
    // Hidden by the next animation frame after the state changed, as it was drawn.
    await pollPage(page, () => document.querySelector('#banner')?.hidden === true, {
      timeout: 2000,
      what: 'banner hidden once connected',
    });

    // An abrupt drop (no close frame) is 1006 and also retried.
    const again = server.clients[server.clients.length - 1];
    again.peer.socket.destroy();
    const drop = await pollPage(page, () => window.game.state !== 'connected' && window.game.lastClose, { what: 'drop recorded' });
    assert.equal(drop.code, 1006);
    await pollPage(page, () => window.game.state === 'connected', { timeout: 5000, what: 'reconnected after drop' });
    await page.close();
  });

  test('VersionMismatch closes for good: no reconnect, banner says so', async () => {
    server.state.acceptVersion = PROTOCOL_VERSION + 1;
    try {
      const page = await openPage(browser, `${server.url}?name=old`);
      const close = await pollPage(page, () => window.game.state === 'closed' && window.game.lastClose, {
        what: 'closed after VersionMismatch',
      });
      assert.deepEqual(close, { code: 1002, reason: 'protocol version mismatch' });
      const attempts = server.clients.filter((c) => !c.name).length;
      await sleep(1500); // longer than the first two backoff delays
      assert.equal(server.clients.filter((c) => !c.name).length, attempts, 'no reconnect attempt');
      assert.equal(await page.evaluate(() => window.game.state), 'closed');
      assert.match(await page.locator('#banner').textContent(), /1002: protocol version mismatch.*not reconnecting/);
      await screenshot(page, 'fake-version-mismatch');
      await page.close();
    } finally {
      server.state.acceptVersion = PROTOCOL_VERSION;
    }
  });

  test('window.game is read-only', async () => {
    const { page } = await connectedPage('readonly');
    const result = await page.evaluate(() => {
      'use strict';
      const out = { frozen: Object.isFrozen(window.game) };
      try {
        window.game.state = 'closed';
      } catch (e) {
        out.threw = e instanceof TypeError;
      }
      out.state = window.game.state;
      return out;
    });
    assert.deepEqual(result, { frozen: true, threw: true, state: 'connected' });
    await page.close();
  });
});
