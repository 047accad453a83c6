// The operator's page against the real server in Chromium: /admin loads, its plots draw a
// point a second (uPlot, served by the binary), the rooms table lists the rooms and a click on
// one shows only its clients, the client table lists a player's page, and its kick button
// closes that page with the documented code 4001, which does not reconnect.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { WEB_ROOT, openPage, pollPage, realServerSuite, screenshot } from './browser-helpers.js';
import { histogramQuantile, histogramSince } from '../src/admin-stats.js';

const HARD_TIMEOUT_MS = 60_000;

test('tick percentiles come from the histogram of the last second', () => {
  const before = [[10, 5], [20, 5]];
  const now = [[10, 105], [20, 5], [1000, 1]];
  const second = histogramSince(now, before);
  assert.deepEqual(second, [[10, 100], [1000, 1]]);
  assert.equal(histogramQuantile(second, 0.5), 0.01);
  assert.equal(histogramQuantile(second, 0.999), 1);
  assert.equal(histogramQuantile([], 0.5), null);
});

describe('the admin page against the real server', { timeout: HARD_TIMEOUT_MS }, () => {
  const suite = realServerSuite('admin.test', HARD_TIMEOUT_MS, () => ['--bind', '127.0.0.1:0', '--web-root', WEB_ROOT]);

  test('plots draw, the table lists the player, and a kick closes it with 4001', async () => {
    const player = await openPage(suite.browser, suite.base);
    await pollPage(player, () => window.game.state === 'connected' && window.game.clientId, { timeout: 15_000, what: 'a player' });
    const clientId = await player.evaluate(() => window.game.clientId);

    const admin = await openPage(suite.browser, `${suite.base}admin`);
    await pollPage(admin, () => window.admin.tickPoints() >= 3, { timeout: 15_000, what: 'three points of tick time' });
    const canvases = await admin.evaluate(() => document.querySelectorAll('#plots canvas').length);
    assert.equal(canvases, 4, 'four uPlot charts');
    await pollPage(admin, (id) => window.admin.clients().includes(id), { arg: clientId, what: 'the player in the table' });
    const row = await admin.evaluate(
      (id) => [...document.querySelectorAll(`tr[data-client="${id}"] td`)].map((td) => td.textContent),
      clientId,
    );
    assert.equal(row[3], 'player', `role: ${row}`);
    assert.match(row[4], /^127\.0\.0\.1:\d+$/, `address: ${row}`);

    // A second room: listed beside the default one; selecting it shows its clients only.
    const made = await fetch(`${suite.base}api/rooms?type=arena`, { method: 'POST' });
    assert.equal(made.status, 201, await made.clone().text());
    const room = (await made.json()).id;
    const rooms = await pollPage(admin, (id) => window.admin.rooms().includes(id) && window.admin.rooms(), {
      arg: room,
      what: 'the new room in the rooms table',
    });
    assert.equal(rooms.length, 2, `the default room and the new one: ${rooms}`);
    const defaultRoom = rooms.find((id) => id !== room);
    assert.equal(row[1], defaultRoom, 'the player is in the default room');
    await admin.click(`tr[data-room="${room}"]`);
    await pollPage(admin, () => window.admin.clients().length === 0, { what: "the new room's (no) clients" });
    assert.equal(await admin.evaluate(() => window.admin.selectedRoom()), room);
    await admin.click(`tr[data-room="${defaultRoom}"]`);
    await pollPage(admin, (id) => window.admin.clients().includes(id), { arg: clientId, what: "the default room's player" });
    await screenshot(admin, 'admin');

    await admin.click(`tr[data-client="${clientId}"] button`);
    const close = await pollPage(player, () => window.game.lastClose, { timeout: 5000, what: 'the kicked page closed' });
    assert.equal(close.code, 4001, `kicked: ${JSON.stringify(close)}`);
    await new Promise((r) => setTimeout(r, 1500));
    const state = await player.evaluate(() => window.game.state);
    assert.equal(state, 'closed', 'a kicked page does not reconnect by itself');
    await pollPage(admin, (id) => !window.admin.clients().includes(id), { arg: clientId, what: 'gone from the table' });
  });
});
