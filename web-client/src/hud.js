// DOM overlay: connection state (and whether we only spectate), RTT, server tick, players
// online, the game's scoreboard (its columns from the schema, its rows in the game's order),
// and a banner with the close code and reason while disconnected or reconnecting.

/**
 * Pure: scoreboard rows `{ client, name, values }` with each value also under its column's
 * name (`columns`: the schema's `scores`), in the game's order.
 */
export function namedScores(rows, columns) {
  return rows.map((r) => ({ ...Object.fromEntries(columns.map((c, i) => [c, r.values[i]])), ...r }));
}

export class Hud {
  constructor(root) {
    this.status = root.querySelector('#status');
    this.scores = root.querySelector('#scores tbody');
    this.head = root.querySelector('#scores thead');
    this.banner = root.querySelector('#banner');
    this.lastStatus = '';
    this.lastScores = '';
    this.lastBanner = null;
  }

  /**
   * view: { state, rtt, tick, playersOnline, name, spectator, clientId, scoreboard, lastClose,
   * reconnectInMs (null: not reconnecting), decodeErrors, drainingInMs (null: not draining) }
   */
  update(view) {
    const rtt = view.rtt === null ? '–' : `${Math.round(view.rtt)} ms`;
    const status =
      `${view.state} · ${view.spectator ? `spectating as ${view.name}` : view.name}` +
      ` · RTT ${rtt} · tick ${view.tick ?? '–'} · ${view.playersOnline} online` +
      (view.decodeErrors ? ` · ${view.decodeErrors} bad msgs` : '');
    if (status !== this.lastStatus) {
      this.status.textContent = status;
      this.status.dataset.state = view.state;
      this.lastStatus = status;
    }

    const columns = view.columns ?? [];
    const key = JSON.stringify([columns, view.scoreboard]) + view.clientId;
    if (key !== this.lastScores) {
      this.lastScores = key;
      const head = document.createElement('tr');
      for (const title of ['player', ...columns]) {
        const th = document.createElement('th');
        th.textContent = title;
        head.append(th);
      }
      this.head?.replaceChildren(head);
      this.scores.replaceChildren(
        ...view.scoreboard.map((r) => {
          const tr = document.createElement('tr');
          if (r.client === view.clientId) tr.className = 'own';
          for (const v of [r.name, ...r.values]) {
            const td = document.createElement('td');
            td.textContent = String(v);
            tr.append(td);
          }
          return tr;
        }),
      );
    }

    let banner = '';
    if (view.state !== 'connected' && view.lastClose) {
      const { code, reason } = view.lastClose;
      banner = `Disconnected (${code}${reason ? `: ${reason}` : ''})`;
      if (view.reconnectInMs !== null) {
        banner += view.reconnectInMs > 0 ? ` — reconnecting in ${(view.reconnectInMs / 1000).toFixed(1)} s` : ' — reconnecting…';
      } else if (view.state === 'closed') {
        banner += ' — not reconnecting; reload the page';
      }
    } else if (view.state === 'connecting') {
      banner = 'Connecting…';
    } else if (view.drainingInMs !== null && view.drainingInMs !== undefined) {
      banner = `The server is restarting: disconnecting in ${Math.ceil(view.drainingInMs / 1000)} s`;
    }
    if (banner !== this.lastBanner) {
      this.banner.textContent = banner;
      this.banner.hidden = banner === '';
      this.lastBanner = banner;
    }
  }
}
