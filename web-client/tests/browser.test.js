// End to end: the REAL server binary serves this client and runs the game; two headless
// Chromium pages play. Asserts the page connects, moves its player with the keyboard, fires
// with Space, decodes every real server message, and sees a second player join.
//
// SERVER_BIN overrides the binary (default <repo>/target/debug/server; build it with
// `cargo build -p server`). Screenshots go to web-client/test-artifacts/.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { WEB_ROOT, openPage, pollPage, realServerSuite, screenshot } from './browser-helpers.js';

const HARD_TIMEOUT_MS = 120_000;

describe('browser client against the real server', { timeout: HARD_TIMEOUT_MS }, () => {
  const suite = realServerSuite('browser.test', HARD_TIMEOUT_MS, () => ['--bind', '127.0.0.1:0', '--web-root', WEB_ROOT, '--seed', '1']);

  test('server serves the client with a JavaScript MIME type', async () => {
    const index = await fetch(suite.base);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /src\/main\.js/);
    const js = await fetch(`${suite.base}src/main.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
  });

  test('connects, moves right while D is held, and sees a second player join', async () => {
    const first = await openPage(suite.browser, suite.base);
    const start = await pollPage(first, () => window.game.state === 'connected' && window.game.ownPosition(), {
      timeout: 15_000,
      what: 'first page connected with an own position',
    });
    const me = await first.evaluate(() => ({ clientId: window.game.clientId, entityId: window.game.entityId, name: window.game.name }));
    assert.match(me.name, /^player-\d{4}$/, 'random default name');
    const own = await first.evaluate((id) => window.game.entities().find((e) => e.id === id), me.entityId);
    assert.equal(own.kind, 'Player');
    assert.equal(own.owner, me.clientId, "own entity's owner is our client id");
    assert.ok(own.health > 0 && own.health <= 100, `health ${own.health}`);
    await pollPage(first, (c) => window.game.scoreboard().some((r) => r.client === c), {
      arg: me.clientId,
      what: 'own row in the scoreboard',
    });

    // Hold D for ~700 ms: at 200 u/s that is ~140 units; require > 50.
    await first.keyboard.down('d');
    await new Promise((r) => setTimeout(r, 700));
    await first.keyboard.up('d');
    // Wait until the player has stopped (position unchanged over 200 ms), then measure.
    const moved = await pollPage(first, () => {
      const a = window.game.ownPosition();
      return new Promise((r) => setTimeout(() => {
        const b = window.game.ownPosition();
        r(a && b && a.x === b.x && a.y === b.y ? b : null);
      }, 200));
    }, { timeout: 3000, what: 'player stopped after key release' });
    assert.ok(moved.x - start.x > 50, `own x grew by more than 50: ${start.x} → ${moved.x}`);
    assert.ok(moved.x - start.x < 200, `and by no more than ~0.7 s at 200 u/s allows: ${start.x} → ${moved.x}`);
    assert.ok(Math.abs(moved.y - start.y) < 5, `y stayed put: ${start.y} → ${moved.y}`);

    const rtt = await pollPage(first, () => window.game.rtt, { what: 'RTT from a Pong' });
    assert.ok(rtt > 0 && rtt < 1000, `rtt ${rtt}`);

    // Aim above the player (it sits at the canvas centre) and hold Space: our shot appears
    // above us. Not along +x: with seed 1 the player spawns at (1380, 1000), so D leaves it
    // 40-60 units from the wall at x = 1580, and a shot into that wall dies within a few ticks,
    // often before any snapshot carries it. Upward the nearest wall is ~580 units off.
    await first.mouse.move(480, 320 - 200);
    await first.keyboard.down('Space');
    const shot = await pollPage(first, (c) => window.game.entities().find((e) => e.kind === 'Projectile' && e.owner === c), {
      arg: me.clientId,
      timeout: 3000,
      what: 'a projectile owned by us after holding Space',
    });
    await first.keyboard.up('Space');
    assert.ok(shot.y < moved.y && Math.abs(shot.x - moved.x) < 20, `shot fired along -y: ${JSON.stringify(shot)}`);

    const second = await openPage(suite.browser, `${suite.base}?name=second`);
    await pollPage(second, () => window.game.state === 'connected' && window.game.ownPosition(), {
      timeout: 15_000,
      what: 'second page connected',
    });
    const seen = await pollPage(second, (c) => window.game.entities().find((e) => e.owner === c && e.kind === 'Player'), {
      arg: me.clientId,
      what: "second page sees the first page's player",
    });
    assert.equal(seen.id, me.entityId);
    assert.ok(Math.abs(seen.x - moved.x) < 5, `second sees the moved position (${seen.x} vs ${moved.x})`);
    await pollPage(first, () => window.game.playersOnline === 2, { what: 'first page counts 2 players online' });
    const names = await first.evaluate(() => window.game.scoreboard().map((r) => r.name).sort());
    assert.deepEqual(names, [me.name, 'second'].sort());
    const secondId = await second.evaluate(() => window.game.clientId);
    assert.notEqual(secondId, me.clientId);

    // Let the renderers draw a few frames, then keep pictures of both.
    await first.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await screenshot(first, 'real-first');
    await screenshot(second, 'real-second');

    for (const page of [first, second]) {
      const stats = await page.evaluate(() => ({ state: window.game.state, decodeErrors: window.game.decodeErrors, tick: window.game.tick }));
      assert.equal(stats.state, 'connected');
      assert.equal(stats.decodeErrors, 0, 'every real server message decoded');
      assert.ok(stats.tick > 0);
      assert.deepEqual(page.problems, [], 'no page errors or console errors');
    }
  });

  test('chat reaches the other page as text: markup is never run, typing does not move the player', async () => {
    const hostile = '<img src=x onerror=alert(1)>';
    const [ann, bob] = [await openPage(suite.browser, `${suite.base}?name=ann`), await openPage(suite.browser, `${suite.base}?name=bob`)];
    const dialogs = [];
    for (const page of [ann, bob]) page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
    for (const page of [ann, bob]) {
      await pollPage(page, () => window.game.state === 'connected' && window.game.ownPosition(), { timeout: 15_000, what: 'connected' });
    }
    const before = await ann.evaluate(() => window.game.ownPosition());
    await ann.click('#view');
    await ann.keyboard.press('Enter');
    assert.equal(await ann.evaluate(() => document.activeElement?.name), 'chat', 'Enter opens the chat box');
    await ann.keyboard.type(`dddd ${hostile}`, { delay: 5 });
    await ann.keyboard.press('Enter');
    const line = await pollPage(bob, (text) => window.game.chat.find((l) => l.text === text), {
      arg: `dddd ${hostile}`,
      what: "ann's line on bob's page",
    });
    assert.equal(line.name, 'ann');
    assert.equal(line.kind, 'chat');
    assert.ok(line.tick > 0, `stamped with the tick: ${line.tick}`);
    const shown = await bob.evaluate(() => {
      const items = [...document.querySelectorAll('#chat .chat-log li')];
      return { text: items.at(-1)?.querySelector('.text')?.textContent, imgs: document.querySelectorAll('#chat img').length };
    });
    assert.equal(shown.text, `dddd ${hostile}`, 'shown as the text it is');
    assert.equal(shown.imgs, 0, 'no element was made from the line');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(dialogs, [], 'no script ran');
    const after = await ann.evaluate(() => window.game.ownPosition());
    assert.ok(Math.abs(after.x - before.x) < 1, `typing d in the chat box did not move ann: ${before.x} → ${after.x}`);
    assert.ok(await ann.evaluate((t) => window.game.chat.some((l) => l.text === t), `dddd ${hostile}`), 'the sender sees its line too');

    // Over 5 lines in 10 s: a notice for the sender, and the line goes nowhere.
    for (let i = 2; i <= 6; i += 1) {
      await ann.keyboard.press('Enter');
      await ann.keyboard.type(`line ${i}`);
      await ann.keyboard.press('Enter');
    }
    await pollPage(ann, () => window.game.chat.some((l) => l.kind === 'notice'), { what: 'a rate notice for ann' });
    await pollPage(bob, () => window.game.chat.some((l) => l.text === 'line 5'), { what: 'the fifth line on bob' });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!(await bob.evaluate(() => window.game.chat.some((l) => l.text === 'line 6'))), 'the sixth line was dropped');
    assert.equal(await ann.evaluate(() => window.game.state), 'connected', 'and ann stays connected');
    assert.deepEqual([...ann.problems, ...bob.problems], []);
    await ann.close();
    await bob.close();
  });
});
