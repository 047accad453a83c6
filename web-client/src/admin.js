// The operator's page (/admin): polls GET /api/admin/state every second, plots tick time
// (p50/p99 of that second, from the tick-duration histogram), clients, bytes out per second
// and CPU with uPlot (vendored in vendor/uplot/, served by the binary, no CDN), and lists the
// rooms (type, clients, tick p99, bytes/s; a click on one shows only its clients) and the
// clients with a kick button (POST /api/admin/kick?client=N: the client is closed with 4001).
// With auth on, open it as /admin#token=ADMIN_TOKEN (token.js: the fragment never reaches a
// server or a log); the token leaves the address bar, is kept for this tab, and is sent as
// `Authorization: Bearer`. The plots' x values are unix seconds, labelled as local time of
// day. Names and addresses are shown with textContent only.
import uPlot from '../vendor/uplot/uPlot.esm.js';
import { histogramQuantile, histogramSince } from './admin-stats.js';
import { queryTokenWarning, takeToken } from './token.js';

const POLL_MS = 1000;
/** Points kept per plot: ten minutes at one a second. */
const KEEP = 600;

const { token, queryToken } = takeToken('arena.admin.token');
const headers = token ? { Authorization: `Bearer ${token}` } : {};
if (queryToken) {
  const warning = document.getElementById('token-warning');
  warning.textContent = queryTokenWarning('/admin');
  warning.hidden = false;
}
const message = document.getElementById('message');
const summary = document.getElementById('summary');
const tbody = document.querySelector('#clients tbody');
const roomsBody = document.querySelector('#rooms tbody');
const allRooms = document.getElementById('all-rooms');
const clientsTitle = document.getElementById('clients-title');
/** The room whose clients the table shows; null: every room's. */
let selectedRoom = null;
allRooms.addEventListener('click', () => selectRoom(null));

function selectRoom(id) {
  selectedRoom = id;
  allRooms.hidden = id === null;
  clientsTitle.textContent = id === null ? 'clients' : `clients of room ${id}`;
  if (previous) render(previous.state, previous.at, Date.now(), true);
}

/** A table row of `cells` ([text, class] pairs), shown with textContent only. */
function row(cells) {
  const tr = document.createElement('tr');
  for (const [text, cls] of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.append(td);
  }
  return tr;
}

const data = { t: [], p50: [], p99: [], clients: [], bytes: [], cpu: [] };

/** Local time of day of unix seconds `t`, as HH:MM:SS (24 h). */
const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const formatTime = (t) => timeOfDay.format(new Date(t * 1000));
/** The x-axis labels each chart drew last (for tests: canvas text is not in the DOM). */
const timeLabels = new Map();

function plot(id, series, yLabel) {
  const opts = {
    width: 470,
    height: 180,
    series: [
      { value: (_u, t) => (t === null ? '–' : formatTime(t)) },
      ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5 })),
    ],
    axes: [
      {
        stroke: '#aaa',
        // Whole seconds and up: labels show seconds, so a finer split would repeat them.
        incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600],
        values: (_u, splits) => {
          const labels = splits.map(formatTime);
          timeLabels.set(id, labels);
          return labels;
        },
      },
      { stroke: '#aaa', label: yLabel },
    ],
    legend: { show: true },
  };
  return new uPlot(opts, [[], ...series.map(() => [])], document.getElementById(id));
}

const charts = {
  tick: plot('plot-tick', [['p50', '#6cf'], ['p99', '#f96']], 'ms'),
  clients: plot('plot-clients', [['clients', '#9e6']], ''),
  bytes: plot('plot-bytes', [['bytes/s', '#c8f']], 'B/s'),
  cpu: plot('plot-cpu', [['CPU %', '#fc6']], '%'),
};

let previous = null;

function push(key, value) {
  data[key].push(value);
  if (data[key].length > KEEP) data[key].shift();
}

/**
 * Draws one poll: `now` is performance.now() (for rates), `wall` is Date.now() (for the x
 * axis). `redraw` draws the last poll's tables again (a room was selected) without a point.
 */
function render(state, now, wall, redraw = false) {
  if (redraw) {
    renderTables(state, previous.rates);
    return;
  }
  const dt = previous ? Math.max((now - previous.at) / 1000, 0.001) : null;
  const seconds = histogramSince(state.tick_buckets_us, previous?.state.tick_buckets_us ?? []);
  push('t', wall / 1000);
  push('p50', histogramQuantile(seconds, 0.5));
  push('p99', histogramQuantile(seconds, 0.99));
  push('clients', state.clients.length);
  push('bytes', dt === null ? null : Math.max(0, state.bytes_out - previous.state.bytes_out) / dt);
  const cpu = state.cpu_s;
  push('cpu', dt === null || cpu === null || previous.state.cpu_s === null ? null : ((cpu - previous.state.cpu_s) / dt) * 100);
  charts.tick.setData([data.t, data.p50, data.p99]);
  charts.clients.setData([data.t, data.clients]);
  charts.bytes.setData([data.t, data.bytes]);
  charts.cpu.setData([data.t, data.cpu]);

  const before = new Map((previous?.state.clients ?? []).map((c) => [c.client, c]));
  const rates = new Map(
    state.clients
      .filter((c) => dt !== null && before.has(c.client))
      .map((c) => [c.client, Math.max(0, c.bytes_out - before.get(c.client).bytes_out) / dt]),
  );
  renderTables(state, rates);
  summary.textContent = `· tick ${state.tick} · ${state.clients.length} clients · ${state.overruns} overruns${state.draining ? ' · draining' : ''}`;
  previous = { state, at: now, rates };
}

/** The rooms table and the client table (of the selected room, if any). */
function renderTables(state, rates) {
  const rooms = state.rooms ?? [];
  if (selectedRoom !== null && !rooms.some((r) => r.id === selectedRoom)) selectRoom(null);
  roomsBody.replaceChildren(
    ...rooms.map((r) => {
      const bytes = state.clients.filter((c) => c.room === r.id).reduce((sum, c) => sum + (rates.get(c.client) ?? 0), 0);
      const tr = row([
        [r.id, ''],
        [r.type, ''],
        [r.game, ''],
        [`${r.clients} / ${r.max_clients}`, 'num'],
        [r.locked ? 'locked' : '', ''],
        [(r.tick_p99_us / 1000).toFixed(2), 'num'],
        [Math.round(bytes).toString(), 'num'],
      ]);
      tr.dataset.room = r.id;
      tr.className = r.id === selectedRoom ? 'selected' : '';
      tr.style.cursor = 'pointer';
      tr.addEventListener('click', () => selectRoom(r.id));
      return tr;
    }),
  );
  const shown = selectedRoom === null ? state.clients : state.clients.filter((c) => c.room === selectedRoom);
  tbody.replaceChildren(
    ...shown.map((c) => {
      const rate = rates.get(c.client);
      const tr = row([
        [String(c.client), 'num'],
        [c.room, ''],
        [c.name ?? '–', ''],
        [c.name === null ? 'joining' : c.spectator ? 'spectator' : 'player', ''],
        [c.addr, ''],
        [c.rtt_ms === null ? '–' : c.rtt_ms.toFixed(1), 'num'],
        [rate === undefined ? '–' : Math.round(rate).toString(), 'num'],
        [String(c.superseded), 'num'],
      ]);
      tr.dataset.client = String(c.client);
      const td = document.createElement('td');
      const button = document.createElement('button');
      button.textContent = 'kick';
      button.addEventListener('click', () => kick(c.client));
      td.append(button);
      tr.append(td);
      return tr;
    }),
  );
}

async function poll() {
  try {
    const response = await fetch('api/admin/state', { headers, cache: 'no-store' });
    if (!response.ok) {
      message.textContent = `${response.status}: ${(await response.text()).trim()}` +
        (response.status === 401 ? ' (open this page as /admin#token=ADMIN_TOKEN)' : '');
      return;
    }
    message.textContent = '';
    render(await response.json(), performance.now(), Date.now());
  } catch (err) {
    message.textContent = `cannot reach the server: ${err.message}`;
  }
}

async function kick(client) {
  const response = await fetch(`api/admin/kick?client=${client}`, { method: 'POST', headers });
  message.textContent = response.ok ? '' : `kick: ${response.status} ${(await response.text()).trim()}`;
  poll();
}

// Read-only hook for tests and the console.
window.admin = Object.freeze({
  /** Points in the plots so far. */
  points: () => data.t.length,
  /** Points of the tick p99 series that hold a value. */
  tickPoints: () => data.p99.filter((v) => v !== null).length,
  /** The tick plot's x range, unix seconds: { min, max }. */
  xRange: () => ({ min: charts.tick.scales.x.min, max: charts.tick.scales.x.max }),
  /** The x-axis labels the tick plot drew last. */
  timeLabels: () => [...(timeLabels.get('plot-tick') ?? [])],
  /** Client ids in the table. */
  clients: () => [...tbody.querySelectorAll('tr')].map((tr) => Number(tr.dataset.client)),
  /** Room ids in the rooms table. */
  rooms: () => [...roomsBody.querySelectorAll('tr')].map((tr) => tr.dataset.room),
  /** The room whose clients the table shows (null: every room's). */
  selectedRoom: () => selectedRoom,
  kick,
});

poll();
setInterval(poll, POLL_MS);
