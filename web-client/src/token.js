// A page's token (the game page and /admin): read from the URL fragment (`#token=…`), which
// the browser never sends to a server (not in the request line, not in `Referer`), so it
// stays out of proxies' access logs; then removed from the address bar and kept in
// sessionStorage for this tab's reconnects and reloads. A `?token=` in the query is never
// used: that request has already put the token in the server's and every proxy's logs, so
// the page says so (`queryTokenWarning`) instead of quietly accepting the habit.

/** What a token may hold: a JWT's characters (base64url and dots), bounded. */
const TOKEN_SHAPE = /^[A-Za-z0-9_.-]{1,2048}$/;

/** Whether `t` looks like a token (anything else is ignored, never stored or sent). */
export function validToken(t) {
  return typeof t === 'string' && TOKEN_SHAPE.test(t);
}

/** The fragment as parameters: `#token=a&x=1` → { token: 'a', x: '1' }. */
function fragmentParams(hash) {
  return new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
}

/** `search` or `hash` text from parameters, with its `?` or `#`, or '' when empty. */
function rebuild(prefix, params) {
  const text = params.toString();
  return text ? `${prefix}${text}` : '';
}

/**
 * The token of this page: from `#token=` (then stored under `key` in `storage` and removed
 * from the address bar with `history.replaceState`), else the one stored for this tab
 * before. Returns { token, queryToken }: `token` is null when there is none; `queryToken` is
 * true when the URL's query held a `token` parameter, which is ignored and also removed from
 * the address bar (so it is not bookmarked or shared further).
 */
export function takeToken(key, loc = location, storage = globalThis.sessionStorage, history = globalThis.history) {
  const query = new URLSearchParams(loc.search);
  const fragment = fragmentParams(loc.hash ?? '');
  const queryToken = query.has('token');
  const fromFragment = fragment.get('token');
  if (queryToken || fromFragment !== null) {
    query.delete('token');
    fragment.delete('token');
    try {
      history?.replaceState(history.state, '', `${loc.pathname}${rebuild('?', query)}${rebuild('#', fragment)}`);
    } catch {
      // Not in a browser page: nothing to tidy.
    }
  }
  if (validToken(fromFragment)) {
    try {
      storage?.setItem(key, fromFragment);
    } catch {
      // Storage refused (private mode, quota): this load still has the token.
    }
    return { token: fromFragment, queryToken };
  }
  let kept = null;
  try {
    kept = storage?.getItem(key) ?? null;
  } catch {
    // Storage unavailable: no kept token.
  }
  return { token: validToken(kept) ? kept : null, queryToken };
}

/** The warning a page shows when its URL carried `?token=`; `page` is '/' or '/admin'. */
export function queryTokenWarning(page) {
  return (
    'This link carried the token as ?token= in its query, which reaches the server and the logs ' +
    'of every proxy on the way: it was not used. Treat that token as exposed, and open the page ' +
    `as ${page}#token=… instead (the part after # never leaves the browser).`
  );
}
