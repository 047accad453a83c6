// wss and tokens end to end: the REAL server binary with a certificate from `server cert` and
// an auth secret, tokens minted by `server token`. Node's `ws` connects with that certificate
// pinned as its only CA (and fails without it: checks stay on); Chromium plays over wss in a
// context set to accept the self-signed certificate, with the token taken from the page URL's
// fragment (#token=).
// Nothing turns certificate checking off globally.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

import { SERVER_BIN, WEB_ROOT, launchChromium, mintToken, pollPage, startServer, stopServer, watchdog } from './browser-helpers.js';
import { PROTOCOL_VERSION, decodeServer, encodeClient } from '../src/protocol.js';
import { socketProtocols } from '../src/net.js';
import { takeToken } from '../src/token.js';

const HARD_TIMEOUT_MS = 90_000;

test('the token rides in a bearer. subprotocol beside ours', () => {
  assert.deepEqual(socketProtocols(null), [`arena.v${PROTOCOL_VERSION}`]);
  assert.deepEqual(socketProtocols('a.b.c'), [`arena.v${PROTOCOL_VERSION}`, 'bearer.a.b.c']);
});

/** A sessionStorage stand-in, and a history that records what replaceState wrote. */
function fakes() {
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
  const replaced = [];
  const history = { state: null, replaceState: (_s, _t, url) => replaced.push(url) };
  return { store, storage, replaced, history };
}

test('takeToken reads #token=, tidies the URL and keeps it for reloads', () => {
  const { store, storage, replaced, history } = fakes();
  const loc = { search: '?name=ann', pathname: '/', hash: '#token=eyJ.x-y_z.sig&view=1' };
  assert.deepEqual(takeToken('k', loc, storage, history), { token: 'eyJ.x-y_z.sig', queryToken: false });
  assert.deepEqual(replaced, ['/?name=ann#view=1'], 'the token leaves the address bar, the rest stays');
  assert.equal(store.get('k'), 'eyJ.x-y_z.sig', 'kept under the page\'s key');
  const reload = { search: '?name=ann', pathname: '/', hash: '' };
  assert.deepEqual(takeToken('k', reload, storage, history), { token: 'eyJ.x-y_z.sig', queryToken: false }, 'a reload keeps it');
  assert.equal(replaced.length, 1, 'nothing to tidy on a reload');
  assert.deepEqual(takeToken('other', reload, storage, history).token, null, 'another page\'s key is its own');
  const only = fakes();
  takeToken('k', { search: '', pathname: '/admin', hash: '#token=a.b.c' }, only.storage, only.history);
  assert.deepEqual(only.replaced, ['/admin'], 'no empty # or ? left behind');
  const empty = { getItem: () => null, setItem: () => assert.fail('an invalid token is not kept') };
  assert.equal(takeToken('k', { search: '', pathname: '/', hash: '#token=<script>' }, empty, history).token, null);
});

test('takeToken never uses ?token=: it flags it and removes it from the address bar', () => {
  const { store, storage, replaced, history } = fakes();
  const loc = { search: '?name=ann&token=eyJ.leaked.sig', pathname: '/', hash: '' };
  assert.deepEqual(takeToken('k', loc, storage, history), { token: null, queryToken: true });
  assert.deepEqual(replaced, ['/?name=ann']);
  assert.equal(store.size, 0, 'a query token is not stored');
  // A token kept from an earlier #token= load still serves; the fragment wins over the query.
  store.set('k', 'kept.token.sig');
  assert.deepEqual(takeToken('k', loc, storage, history), { token: 'kept.token.sig', queryToken: true });
  const both = { search: '?token=q.q.q', pathname: '/', hash: '#token=f.f.f' };
  assert.deepEqual(takeToken('k', both, storage, history), { token: 'f.f.f', queryToken: true });
});

describe('wss with a certificate and tokens, against the real server', { timeout: HARD_TIMEOUT_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'arena-tls-'));
  const s = { server: null, port: 0, ca: null, tokens: {}, browser: null };
  const disarm = watchdog('tls-auth.test', HARD_TIMEOUT_MS, () => s.server?.child.kill('SIGKILL'));

  before(async () => {
    execFileSync(SERVER_BIN, ['cert', '--out', dir], { stdio: 'pipe' });
    s.ca = readFileSync(join(dir, 'cert.pem'));
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'a test secret that is longer than thirty-two bytes\n');
    const mint = (name, role) => mintToken(secret, name, role);
    s.tokens = { ann: mint('ann', 'player'), zoe: mint('zoe', 'player') };
    s.server = await startServer([
      '--bind', '127.0.0.1:0', '--web-root', WEB_ROOT,
      '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'),
      '--auth-secret-file', secret,
    ]);
    s.port = Number(s.server.address.split(':').pop());
    s.browser = await launchChromium();
  });

  after(async () => {
    await s.browser?.close().catch(() => {});
    await stopServer(s.server?.child);
    rmSync(dir, { recursive: true, force: true });
    disarm();
  });

  /** Opens a `ws` socket; resolves { ws, protocol } on open, or { error } / { status } on failure. */
  function open(options, protocols = socketProtocols(null)) {
    return new Promise((resolve) => {
      const ws = new WebSocket(`wss://localhost:${s.port}/ws`, protocols, options);
      ws.binaryType = 'arraybuffer';
      ws.once('open', () => resolve({ ws, protocol: ws.protocol }));
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode, challenge: res.headers['www-authenticate'] });
        ws.terminate();
      });
      ws.once('error', (error) => resolve({ error }));
    });
  }

  test('Node ws connects with the certificate pinned as its CA, and plays', async () => {
    const { ws, protocol, error, status } = await open({ ca: s.ca, headers: { Authorization: `Bearer ${s.tokens.ann}` } });
    assert.ok(ws, `upgraded (error ${error?.message}, status ${status})`);
    assert.equal(protocol, `arena.v${PROTOCOL_VERSION}`, 'the server selected our subprotocol');
    const welcome = new Promise((resolve) => {
      ws.on('message', (data) => {
        // Only the Welcome is read: what follows it is read by its schema, which this test
        // does not need.
        if (new Uint8Array(data)[0] !== 0) return;
        const message = decodeServer(new Uint8Array(data));
        if (message.type === 'Welcome') resolve(message);
      });
    });
    ws.send(encodeClient({ type: 'Hello', protocol_version: PROTOCOL_VERSION, name: 'someone-else', spectate: false }));
    const got = await welcome;
    assert.ok(got.entity_id > 0, 'joined as a player');
    ws.close();
  });

  test('without the pinned CA the certificate is refused: checks are on', async () => {
    const { error, ws } = await open({ headers: { Authorization: `Bearer ${s.tokens.ann}` } });
    ws?.close();
    assert.ok(error, 'no connection without trusting the certificate');
    assert.match(String(error.code ?? error.message), /SELF_SIGNED|self.signed|DEPTH_ZERO/i, String(error.message));
  });

  test('no token, or a bad one, gets 401 before any upgrade', async () => {
    const none = await open({ ca: s.ca });
    assert.equal(none.status, 401, 'no token');
    assert.match(none.challenge ?? '', /^Bearer realm=/);
    const bad = await open({ ca: s.ca }, socketProtocols(`${s.tokens.ann}x`));
    assert.equal(bad.status, 401, 'bad signature');
    assert.match(bad.challenge ?? '', /invalid_token/);
  });

  test('Chromium plays over wss with the token from the page URL\'s #token=, under the token\'s name', async () => {
    const context = await s.browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 960, height: 640 } });
    try {
      const page = await context.newPage();
      const problems = [];
      page.on('pageerror', (err) => problems.push(err.message));
      await page.goto(`https://localhost:${s.port}/?name=mallory#token=${s.tokens.zoe}`, { waitUntil: 'load' });
      await pollPage(page, () => window.game.state === 'connected' && window.game.ownPosition(), {
        timeout: 15_000,
        what: 'connected over wss with an own position',
      });
      assert.equal(await page.evaluate(() => location.protocol), 'https:');
      const row = await pollPage(page, () => window.game.scoreboard().find((r) => r.client === window.game.clientId), {
        what: 'own scoreboard row',
      });
      assert.equal(row.name, 'zoe', 'the token names the player, not ?name=');
      assert.ok(!(await page.evaluate(() => location.href)).includes('token='), 'the token left the address bar');
      assert.deepEqual(problems, []);

      // The same page without a token never gets in.
      const stranger = await context.newPage();
      await stranger.goto(`https://localhost:${s.port}/?name=stranger`, { waitUntil: 'load' });
      await new Promise((r) => setTimeout(r, 1500));
      assert.notEqual(await stranger.evaluate(() => window.game.state), 'connected', 'no token, no game');
      const close = await pollPage(stranger, () => window.game.lastClose, { what: 'a recorded close' });
      assert.equal(close.code, 1006);
      assert.match(close.reason, /token/, 'the page says a token may be missing');
      assert.match(await stranger.textContent('#banner'), /token/, 'and shows it');
    } finally {
      await context.close();
    }
  });

  test('--tls-self-signed prints its fingerprint and Chromium plays over wss on it', async () => {
    const own = await startServer(['--bind', '127.0.0.1:0', '--web-root', WEB_ROOT, '--tls-self-signed']);
    const context = await s.browser.newContext({ ignoreHTTPSErrors: true });
    try {
      assert.match(own.output(), /sha256=([0-9A-F]{2}:){31}[0-9A-F]{2}/, 'the log shows the SHA-256 fingerprint');
      const page = await context.newPage();
      const response = await page.goto(`https://127.0.0.1:${own.address.split(':').pop()}/?name=selfie`, { waitUntil: 'load' });
      const security = await response.securityDetails();
      assert.match(security?.protocol ?? '', /TLS/, 'served over TLS');
      await pollPage(page, () => window.game.state === 'connected' && window.game.ownPosition(), {
        timeout: 15_000,
        what: 'connected over wss to the self-signed server',
      });
    } finally {
      await context.close();
      await stopServer(own.child);
    }
  });
});
