// tablecart — the diners' page. Plain JS, no build step, no dependencies.
//
// One table, one shared cart. Changes go out over HTTP (SSE and polling modes) or over the
// WebSocket (WS mode); the whole cart comes back over the live channel whenever anybody at the
// table changes it, and so do the menu (menu_update) and who is at the table (presence).
// Everything the server sends (names, remarks, phones, messages) is put into the page with
// textContent or as an input's value only, never innerHTML.
'use strict';

(function () {
  // ---------------------------------------------------------------------------------------
  // settings

  const API = (document.documentElement.dataset.apiPrefix || '/api').replace(/\/+$/, '');
  const HEARTBEAT_MS = 30000; // WS heartbeat, as the seed manual does it
  const WATCHDOG_MS = 80000; // nothing at all (event, heartbeat) for this long → the stream is dead
  const CONNECT_MS = 10000; // a stream not `connected` by then failed (a proxy that swallows it)
  const POLL_MS = 1000; // polling fallback: "within a second"; a 304 costs a few bytes
  const POLL_MENU_EVERY = 15; // while polling (no menu_update events), re-read the menu every 15 polls
  const UPGRADE_MS = 60000; // while polling as a fallback, try streaming again this often
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 15000;
  const FAILS_BEFORE_FALLBACK = 2; // failures of one transport while the server answers HTTP
  const WS_REPLY_TIMEOUT_MS = 10000;
  const HTTP_TIMEOUT_MS = 10000; // any request (a change, a read) not answered by then is given up
  const NO_ANSWER_TEXT = '服务器没有回应，请重试。';
  const REPLAYED_TEXT = '刚才的更改已生效，没有重复提交。';
  const RETRY_SAME_KEY_MS = 60000; // a change that timed out: an identical one this soon is its retry
  const NOTICE_MS = 2500;
  const CONFLICT_TEXT = '购物车已被他人更新，请再试一次。';
  const OWN_TAB_CONFLICT_TEXT = '购物车已在你的另一个页面更新，请再试一次。';
  const MAX_QTY = 99;
  const MAX_REMARK = 200; // code points, as the server counts
  const MAX_NAME = 12;
  const PLACEHOLDER = 'img/placeholder.svg';

  // What the diner sees of the connection: calm words, no protocol names.
  const STATE_TEXT = { connecting: '连接中…', connected: '已同步', disconnected: '已断开，正在重连…' };
  const TYPE_NAMES = { 1: '单品', 2: '套餐' };

  // ---------------------------------------------------------------------------------------
  // small helpers

  const $ = (id) => document.getElementById(id);

  /** Empties `node` and puts `children` in (what replaceChildren does: Chrome 86, Safari 14). */
  function setChildren(node, ...children) {
    while (node.firstChild) node.removeChild(node.firstChild);
    node.append(...children);
  }

  /** Creates an element; text goes in through textContent, never as markup. */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'className') node.className = v;
        else if (k === 'text') node.textContent = String(v);
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
        else if (k in node && typeof v !== 'string') node[k] = v;
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // Money. The server sends amounts as JSON numbers with exactly two decimals (38.00, 76.50),
  // as Java's BigDecimal prints them; JSON.parse turns 38.00 into 38. Because the server's value
  // always has exactly two decimals, the parsed double is the nearest double to k/100 for an
  // integer k of cents, and toFixed(2) rounds that double back to exactly k/100 for every
  // |k| < 2^53 (i.e. any amount below 2^53/100 ≈ 90 万亿 yuan). So x.toFixed(2) prints exactly
  // what the server meant; no float arithmetic is ever done on money here (totals and subtotals
  // come from the server, too).
  function money(x) {
    if (typeof x === 'number' && Number.isFinite(x)) return x.toFixed(2);
    if (typeof x === 'string' && /^-?\d+(\.\d+)?$/.test(x)) return x; // a server that quotes it
    return '—';
  }

  function maskPhone(p) {
    const s = String(p);
    return /^\d{11}$/.test(s) ? s.slice(0, 3) + '****' + s.slice(7) : s;
  }

  const codePoints = (s) => [...s].length;

  /** `x`, or 0 when it is null or undefined (what `x ?? 0` says, written for the baseline). */
  const orZero = (x) => (x === null || x === undefined ? 0 : x);

  function randomUserId() {
    const a = new Uint32Array(1);
    crypto.getRandomValues(a);
    return (a[0] % 2147483646) + 1; // 1 … 2^31-1: a positive 32-bit id, as the server wants
  }

  /** The diner's id in --auth none mode: random, kept in localStorage so a reload keeps it. */
  function loadUserId() {
    const KEY = 'tablecart.userId';
    let id = null;
    try {
      id = localStorage.getItem(KEY);
    } catch (_) {
      /* storage disabled: a per-page id still works */
    }
    if (!/^[1-9]\d{0,9}$/.test(id || '') || Number(id) > 2147483647) {
      id = String(randomUserId());
      try {
        localStorage.setItem(KEY, id);
      } catch (_) {
        /* ignore */
      }
    }
    return Number(id);
  }

  /** userId claim of a JWT (display only: the server checks the token, we just read it). */
  function userIdFromToken(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(part));
      const id = claims.userId !== undefined ? claims.userId : claims.sub;
      return id !== undefined && id !== null ? Number(id) : null;
    } catch (_) {
      return null;
    }
  }

  function backoff(attempt) {
    // exponential, capped, with "equal jitter": half fixed, half random, so a restarted server
    // is not hit by every phone of the restaurant in the same millisecond.
    const d = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 10));
    return d / 2 + Math.random() * (d / 2);
  }

  class ApiError extends Error {
    constructor(message, status, network) {
      super(message);
      this.status = status;
      this.network = !!network;
    }
  }

  /** 401 / 403: the token is missing, expired, bad or not for this table; no retry can help. */
  const isAuthError = (e) => !!e && (e.status === 401 || e.status === 403);

  const reduceMotion = () => window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

  // ---------------------------------------------------------------------------------------
  // state

  const params = new URLSearchParams(location.search);
  const token = params.get('token'); // --auth jwt: the QR code's token
  const userId = token ? userIdFromToken(token) : loadUserId();
  const tableParam = params.get('table') || params.get('tableId');

  /** A cart's version; null when it carries none. */
  const versionOf = (cart) => (cart && typeof cart.version === 'number' ? cart.version : null);

  const S = {
    tableId: null,
    table: null,
    menu: [],
    menuById: new Map(),
    cart: null,
    presence: null, // {online, diners:[{userId, seat, name, online}]} once the server sent one
    preferred: 'sse',
    order: ['sse', 'ws', 'poll'],
    idx: 0,
    transport: null, // what is actually running: 'sse' | 'ws' | 'poll'
    conn: 'connecting',
    pendingHttp: 0,
    ownSeq: 0, // answers to the page's own changes applied so far (a poll sent before one may be older)
    ownVersions: new Set(),
    maybeOthers: new Set(),
    busy: new Set(), // cuisineIds (or 'all', 'name') with a change in flight
    stopped: false, // a 401/403 ended the page: nothing reconnects any more
  };

  // For tests and curious people: read-only view of what the page is doing.
  window.__tablecart = {
    get userId() {
      return userId;
    },
    get tableId() {
      return S.tableId;
    },
    get cart() {
      return S.cart;
    },
    get menu() {
      return S.menu;
    },
    get presence() {
      return S.presence;
    },
    get state() {
      return S.conn;
    },
    get transport() {
      return S.transport;
    },
    get version() {
      return versionOf(S.cart);
    },
    notices: 0, // 购物车已更新 shown (changes by somebody else)
    get held() {
      return S.maybeOthers.size; // pushed carts held until the diner's own changes on their way end
    },
    get otherTab() {
      return siblingSeen; // another tab of the same diner and table said hello or answered ours
    },
    get otherTabsChanging() {
      return otherTabs.size; // changes another tab of the same diner said are on their way
    },
    menuUpdates: 0, // menus applied after the first
    renderedAt: 0, // Date.now() of the last cart render
  };

  // ---------------------------------------------------------------------------------------
  // HTTP

  function authHeaders() {
    if (token) return { Authorization: 'Bearer ' + token };
    return { 'X-User-Id': String(userId) };
  }

  function streamQuery() {
    return token ? 'token=' + encodeURIComponent(token) : 'userId=' + encodeURIComponent(userId);
  }

  /** A random key for one tap's change (Idempotency-Key): 128 bits, hex. */
  function changeKey() {
    const a = new Uint8Array(16);
    crypto.getRandomValues(a); // also on plain http, where crypto.randomUUID is missing
    return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  /**
   * Calls the API; resolves to the envelope's data, rejects with an ApiError saying why.
   * Every request is given up (aborted) when its whole answer has not arrived within
   * HTTP_TIMEOUT_MS: one lost answer must not keep a dish busy, every notice held, a poll or a
   * reconnect waiting, or the page on 正在加载菜单… for good. The caller then goes on as after
   * any network error (NO_ANSWER_TEXT, `network`).
   */
  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({ Accept: 'application/json' }, authHeaders(), extraHeaders);
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    // A timer of the page (not AbortSignal.timeout) so that tests can drive it with a page clock.
    // It aborts the request where AbortController exists (Chrome 66, Safari 12.1); everywhere,
    // the answer is raced against it, so a browser without one gives up all the same (the
    // request itself is then left to the browser).
    let timedOut = false;
    let timer = null;
    const ctl = typeof AbortController === 'function' ? new AbortController() : null;
    if (ctl) init.signal = ctl.signal;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        if (ctl) ctl.abort();
        reject(new Error('timeout'));
      }, HTTP_TIMEOUT_MS);
    });
    const inTime = (p) => Promise.race([p, late]);
    try {
      let res;
      try {
        res = await inTime(fetch(API + path, init));
      } catch (e) {
        if (timedOut) throw new ApiError(NO_ANSWER_TEXT, 0, true);
        throw new ApiError('无法连接服务器，请检查网络。', 0, true);
      }
      if (res.status === 304) return { notModified: true };
      let env = null;
      try {
        env = await inTime(res.json());
      } catch (_) {
        /* not JSON: a proxy's error page, say */
        if (timedOut) throw new ApiError(NO_ANSWER_TEXT, 0, true);
      }
      return envelopeData(res, env);
    } finally {
      clearTimeout(timer);
    }
  }

  function envelopeData(res, env) {
    if (env && typeof env === 'object' && 'success' in env) {
      if (env.success && res.ok) return env.data;
      // the server's own words (Chinese for diners), shown as they come
      throw new ApiError(env.message || `请求失败（HTTP ${res.status}）`, env.code || res.status);
    }
    if (!res.ok) throw new ApiError(`服务器出错了（HTTP ${res.status}），请稍后再试。`, res.status);
    throw new ApiError('服务器返回了无法识别的数据。', res.status);
  }

  // ---------------------------------------------------------------------------------------
  // applying a cart, a menu, a presence

  /**
   * Shows a cart. `own`: it answers this page's own request. `snapshot`: the server's word (the
   * first state after a (re)connect, a poll's answer), taken whatever its version — after a
   * restart on a new database the version goes down, or comes back to the same number with
   * other lines. A change nobody here asked for gets a notice.
   */
  function applyCart(cart, { own = false, snapshot = false } = {}) {
    if (!cart || typeof cart !== 'object' || !Array.isArray(cart.items)) return;
    const v = versionOf(cart);
    const cur = versionOf(S.cart);
    if (own) S.ownSeq++;
    if (own && v !== null) ownVersion(v);
    const first = S.cart === null;
    if (own && v !== null && cur !== null && v > cur + 1) {
      // the answer to the diner's own change jumped over versions the page never showed (a
      // polling page sees only what its polls bring): those that are not the diner's own were
      // somebody else's, decided as held pushes are (the diner's other changes on their way may
      // still claim them)
      for (let x = Math.max(cur + 1, v - 64); x < v; x++) if (!S.ownVersions.has(x)) S.maybeOthers.add(x);
    }
    // only changed lines are news (a push may repeat what is shown: a reconnect's snapshot)
    const linesChanged = first || JSON.stringify(cart.items) !== JSON.stringify(S.cart.items);
    if (v !== null && cur !== null) {
      if (v === cur && !(snapshot && linesChanged)) {
        flushNotices();
        return; // already showing it
      }
      if (v < cur && !snapshot) {
        flushNotices();
        return; // an older state overtaken by a newer one
      }
      if (v <= cur) {
        // the server's word went back, or the same version has other lines (a new database):
        // the versions we knew mean nothing now
        S.ownVersions.clear();
        S.maybeOthers.clear();
      }
    }
    const prev = S.cart;
    S.cart = cart;
    renderCart();
    if (!own && !first && linesChanged) {
      if (v === null) {
        if (!holding()) notice();
      } else if (!S.ownVersions.has(v) && !looksOwn(prev, cart)) {
        if (siblingSeen) siblingGrace();
        if (holding()) S.maybeOthers.add(v);
        else notice();
      }
    }
    flushNotices();
  }

  // The diner's changes whose end is not known: on their way, or left without an answer (given up
  // after 10 s, or the connection failed: the change may have been applied and its answer lost,
  // or it never arrived). Each keeps its Idempotency-Key: the next identical change (same
  // operation, dish, quantity or remark) within RETRY_SAME_KEY_MS is its retry and goes out with
  // the same key, so the server applies it once (it replays the first answer if that one was).
  const unsure = [];

  /** The record of a change about to leave: an unanswered identical one (a retry), else a new one. */
  function unsureChange(kind, cuisineId, extra) {
    const sig = JSON.stringify([kind, cuisineId, extra && extra.quantity, extra && extra.remark]);
    forgetOldUnsure();
    const again = unsure.find((x) => x.lost && x.sig === sig);
    if (again) {
      again.lost = false;
      again.retry = true;
      return again;
    }
    const u = { sig, kind, cuisineId, extra, key: changeKey(), version: null, lost: false, retry: false, at: 0 };
    unsure.push(u);
    return u;
  }

  /** Drops the changes left without an answer longer ago than a retry comes. */
  function forgetOldUnsure() {
    const now = Date.now();
    for (let i = unsure.length - 1; i >= 0; i--) if (unsure[i].lost && now - unsure[i].at > RETRY_SAME_KEY_MS) unsure.splice(i, 1);
  }

  /** The change got its answer (or an error): its end is known. */
  function settled(u) {
    const i = unsure.indexOf(u);
    if (i >= 0) unsure.splice(i, 1);
  }

  /** No answer: the cart that looked like this change (if one came) was the diner's. */
  function unanswered(u) {
    u.lost = true;
    u.at = Date.now();
    if (u.version !== null) ownVersion(u.version);
  }

  /**
   * Whether `cart`, which nobody said was the diner's, is one version after `prev` and differs
   * from it exactly as one of the diner's unsure changes would make it. Remembered on that change;
   * taken as the diner's own at once when the change was left without an answer (a change that is
   * answered is told its version by the answer).
   */
  function looksOwn(prev, cart) {
    const v = versionOf(cart);
    if (v === null || versionOf(prev) !== v - 1) return false;
    forgetOldUnsure();
    const u = unsure.find((x) => x.version === null && madeBy(x, prev, cart));
    if (!u) return false;
    u.version = v;
    if (u.lost) ownVersion(v);
    return u.lost;
  }

  /** Whether change `u` turns cart `before` into `after` (lines, remarks, the diner's portions). */
  function madeBy(u, before, after) {
    const lines = (cart) => new Map(cart.items.map((i) => [i.cuisineId, i]));
    const remark = (line) => (line && line.remark) || '';
    const mine = (line) => (line && Array.isArray(line.shares) ? line.shares.filter((x) => Number(x.userId) === userId).reduce((n, x) => n + x.quantity, 0) : 0);
    const b = lines(before);
    const a = lines(after);
    if (u.kind === 'clear_cart') return a.size === 0;
    for (const id of new Set([...b.keys(), ...a.keys()])) {
      const x = b.get(id);
      const y = a.get(id);
      if (id !== u.cuisineId && !(x && y && x.quantity === y.quantity && remark(x) === remark(y))) return false;
    }
    const was = b.get(u.cuisineId);
    const now = a.get(u.cuisineId);
    if (u.kind === 'remove_item') return !!was && !now;
    if (!now || (u.kind !== 'add_item' && !was)) return false;
    if (u.kind === 'update_remark') return now.quantity === was.quantity && remark(now) === u.extra.remark && (now.remarkUserId == null || Number(now.remarkUserId) === userId);
    if (remark(now) !== remark(was)) return false;
    if (u.kind === 'update_quantity') return now.quantity === u.extra.quantity;
    const q = u.extra.quantity; // add_item: the portions are the diner's (their share, when the cart says)
    return now.quantity === (was ? was.quantity : 0) + q && (!Array.isArray(now.shares) || mine(now) === mine(was) + q);
  }

  /** A version that answered one of the diner's own changes (made in this tab or another). */
  function ownVersion(v) {
    S.ownVersions.add(v);
    S.maybeOthers.delete(v);
    if (S.ownVersions.size > 64) S.ownVersions.delete(S.ownVersions.values().next().value);
  }

  /**
   * Whether a pushed cart may answer a change of the diner's own still on its way: one of this
   * tab's HTTP requests (the push can come before the answer), or any change of another tab.
   */
  const holding = () => S.pendingHttp > 0 || otherTabs.size > 0 || Date.now() < graceUntil;

  /** Versions pushed while our own request was in flight that turned out not to be ours. */
  function flushNotices() {
    if (holding() || S.maybeOthers.size === 0) return;
    S.maybeOthers.clear();
    notice();
  }

  // The diner's other tabs. A cart_update does not say who made the change (a cart carries only
  // who added each portion and who wrote each remark, and a −, a 删除 or 清空 leaves no name), so
  // a change made in another tab of the same diner would read as somebody else's. Tabs of this
  // page in one browser share localStorage, hence the diner id: each tells the others, on a
  // BroadcastChannel, when one of its changes leaves and which version answered it, and they
  // take that version as their own, holding the carts pushed meanwhile as for their own HTTP
  // requests. A tab that closes with a change on its way never tells its end: after the longest
  // a change may take (10 s, then it is given up) the others stop waiting for it.
  const OTHER_TAB_HOLD_MS = Math.max(HTTP_TIMEOUT_MS, WS_REPLY_TIMEOUT_MS) + 2000;
  const otherTabs = new Map(); // change id → its give-up timer: another tab's changes on their way
  // The push of another tab's change can come before that tab's word that the change left (the
  // stream and the channel are two roads). Once the diner has another tab open here (each tab
  // says hello when it starts, and the others answer), a push nobody explained waits this long
  // for that word before it is news: a notice comes that much later, only for such a diner.
  const SIBLING_GRACE_MS = 1000;
  let siblingSeen = false;
  let graceUntil = 0;
  let graceTimer = null;
  function siblingGrace() {
    graceUntil = Date.now() + SIBLING_GRACE_MS;
    clearTimeout(graceTimer);
    graceTimer = setTimeout(flushNotices, SIBLING_GRACE_MS + 1);
  }
  const tabChannel = (() => {
    try {
      return typeof BroadcastChannel === 'function' ? new BroadcastChannel('tablecart.changes') : null;
    } catch (_) {
      return null; // no channel: each tab decides alone, as before
    }
  })();

  function tellTabs(msg) {
    if (!tabChannel || userId === null || S.tableId === null) return;
    try {
      tabChannel.postMessage(Object.assign({ userId, tableId: S.tableId }, msg));
    } catch (_) {
      /* the channel is gone (the page is closing) */
    }
  }

  if (tabChannel) {
    tabChannel.onmessage = (ev) => {
      const m = ev.data;
      // only the same diner at the same table: with ?token= two tabs may be two diners
      if (!m || typeof m.id !== 'string' || userId === null || m.userId !== userId || m.tableId !== S.tableId) return;
      siblingSeen = true;
      if (m.kind === 'hello') tellTabs({ kind: 'here', id: m.id }); // so the new tab knows of this one
      if (m.kind === 'hello' || m.kind === 'here') return;
      clearTimeout(otherTabs.get(m.id));
      if (m.kind === 'begin') {
        otherTabs.set(
          m.id,
          setTimeout(() => {
            otherTabs.delete(m.id);
            flushNotices();
          }, OTHER_TAB_HOLD_MS)
        );
      } else if (m.kind === 'end') {
        otherTabs.delete(m.id);
        if (typeof m.version === 'number') ownVersion(m.version);
        flushNotices();
      }
    };
  }

  /** The table number in the top bar and the title (from the menu call's `table`). */
  function renderTable() {
    const t = S.table;
    const tn = !t || t.tableNumber == null ? String(S.tableId) : String(t.tableNumber);
    $('table-number').textContent = tn;
    document.title = `${tn} 桌 · 扫码点餐`;
  }

  /** A new menu (the first, a menu_update, or a re-read while polling). */
  function applyMenu(menu, { first = false } = {}) {
    if (!menu || !Array.isArray(menu.cuisines)) return;
    const same = !first && JSON.stringify(menu.cuisines) === JSON.stringify(S.menu);
    if (menu.table) {
      S.table = menu.table;
      renderTable(); // a menu_update may rename the table
    }
    if (same) return;
    S.menu = menu.cuisines;
    S.menuById = new Map(S.menu.map((c) => [c.cuisineId, c]));
    renderMenu();
    if (S.cart) renderCart();
    if (!first) {
      window.__tablecart.menuUpdates++;
      notice('菜单已更新');
    }
  }

  function applyPresence(p) {
    if (!p || typeof p !== 'object' || !Array.isArray(p.diners)) return;
    S.presence = { online: Number(p.online) || 0, diners: p.diners };
    renderPresence();
    if (S.cart) renderCart(); // names on the lines
  }

  let noticeTimer = null;
  const sayTimers = {}; // region id → the timer that fills it
  /**
   * Tells screen readers `text` through one of the live regions that are in the page from the
   * start (say-status, say-alert): emptied first and filled a moment later, so the same text
   * twice is read twice.
   */
  function say(id, text) {
    const r = $(id);
    r.textContent = '';
    clearTimeout(sayTimers[id]);
    sayTimers[id] = setTimeout(() => (r.textContent = text), 100);
  }

  function notice(text = '购物车已更新') {
    const n = $('notice');
    n.textContent = text;
    n.hidden = false;
    say('say-status', text);
    if (text === '购物车已更新') window.__tablecart.notices++;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (n.hidden = true), NOTICE_MS);
  }

  let errTimer = null;
  function toastError(msg) {
    const t = $('toast-error');
    t.textContent = msg;
    t.hidden = false;
    say('say-alert', msg);
    clearTimeout(errTimer);
    errTimer = setTimeout(() => (t.hidden = true), 4000);
  }

  // ---------------------------------------------------------------------------------------
  // changing the cart

  /**
   * One change: over the WebSocket when it is the live channel, else over HTTP. A change made
   * from what the page shows (`extra.ifMatch`: the version it showed) always goes over HTTP with
   * `If-Match` — WebSocket commands carry no version — and is refused 409 when the cart moved on.
   */
  const inFlight = []; // { done }: this page's cart changes on their way, in the order sent
  const remarkWaiting = new Set(); // dishes whose remark save waits for their change in flight
  const idleWaiters = []; // { key, resolve }: told when that key's change has ended

  /** Resolves once the change in flight for `key` (a dish, 'all') has ended. */
  function whenIdle(key) {
    if (!S.busy.has(key)) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push({ key, resolve }));
  }

  async function mutate(kind, cuisineId, extra) {
    const key = cuisineId === null ? 'all' : cuisineId;
    if (S.busy.has(key)) return false;
    S.busy.add(key);
    refreshControls();
    let finish;
    const me = { done: new Promise((resolve) => (finish = resolve)) };
    const before = inFlight.slice(); // this page's changes still on their way, sent before this one
    inFlight.push(me);
    if (extra && typeof extra.ifMatch === 'number' && before.length) {
      // a − or 删除 tapped while this page's own earlier changes (on other dishes) are on their
      // way: their answers bump the version, and the server would refuse this one (409) for the
      // diner's own taps. It waits for them; when every version since the one the diner saw is
      // the diner's own, it goes with the version they brought (the line it changes is as shown)
      await Promise.all(before.map((x) => x.done));
      const now = versionOf(S.cart);
      if (typeof now === 'number' && now > extra.ifMatch && movedByOwnTabs(extra.ifMatch)) extra = Object.assign({}, extra, { ifMatch: now });
    }
    const change = changeKey(); // this change, for the diner's other tabs
    let answered = null; // the version that answered it
    const u = unsureChange(kind, cuisineId, extra);
    const shown = versionOf(S.cart);
    tellTabs({ kind: 'begin', id: change });
    try {
      const conditional = extra && typeof extra.ifMatch === 'number';
      let cart;
      if (!conditional && S.transport === 'ws' && wsConn && wsConn.isOpen()) {
        cart = await wsConn.command(kind, cuisineId, extra, u.key);
      } else {
        S.pendingHttp++;
        try {
          cart = await httpMutation(kind, cuisineId, extra, u.key);
        } finally {
          S.pendingHttp--;
        }
      }
      settled(u);
      answered = versionOf(cart);
      applyCart(cart, { own: true });
      // a retry answered with a version the page had already shown: the server replayed the
      // first answer, the change had been applied the first time
      if (u.retry && answered !== null && shown !== null && answered <= shown) notice(REPLAYED_TEXT);
      return true;
    } catch (e) {
      if (e.network || e.message === NO_ANSWER_TEXT) {
        // no answer in time, or the connection failed: nobody knows whether it was applied. The
        // cart that looked like it is the diner's (no 购物车已更新 for it), the cart is read
        // again so that the diner sees what is true, and the change's key waits for its retry
        unanswered(u);
        answered = u.version;
        toastError(e.message);
        await refreshCart();
        flushNotices();
        return false;
      }
      settled(u);
      if (isAuthError(e)) {
        authFatal(e);
        return false;
      }
      if (e.status === 409) {
        // the cart moved on since the page drew it: the tap is not applied; show the cart as
        // it is now and let the diner decide again, saying whose the changes in between were
        await refreshCart();
        toastError(movedByOwnTabs(extra && extra.ifMatch) ? OWN_TAB_CONFLICT_TEXT : CONFLICT_TEXT);
        flushNotices();
        return false;
      }
      toastError(e.message || '操作失败，请重试。');
      flushNotices();
      return false;
    } finally {
      tellTabs({ kind: 'end', id: change, version: answered });
      S.busy.delete(key);
      inFlight.splice(inFlight.indexOf(me), 1);
      finish();
      refreshControls();
      for (let i = idleWaiters.length - 1; i >= 0; i--) {
        if (idleWaiters[i].key === key) idleWaiters.splice(i, 1)[0].resolve();
      }
    }
  }

  /**
   * Whether every version after `from` up to the cart now shown answered one of the diner's own
   * changes (made in another tab: they told this one on the tabs' channel), so that a 409 came
   * from the diner's other tab, not from somebody else.
   */
  function movedByOwnTabs(from) {
    const to = versionOf(S.cart);
    if (typeof from !== 'number' || typeof to !== 'number' || to <= from) return false;
    for (let v = from + 1; v <= to; v++) if (!S.ownVersions.has(v)) return false;
    return true;
  }

  /** The current cart, asked for (after a 409). Errors are left to the live channel. */
  async function refreshCart() {
    try {
      applyCart(await api('GET', `/store/order/cart/${S.tableId}`), {});
    } catch (_) {
      /* the live channel will bring it */
    }
  }

  /**
   * One change over HTTP. Each tap gets its own Idempotency-Key (`key`), but the retry of a change
   * that timed out takes that change's: a request with the same key is applied once by the server.
   */
  function httpMutation(kind, cuisineId, extra, key) {
    const t = S.tableId;
    const h = { 'Idempotency-Key': key };
    if (extra && typeof extra.ifMatch === 'number') h['If-Match'] = `"v${extra.ifMatch}"`;
    const call = (method, path, body) => api(method, path, body, h);
    switch (kind) {
      case 'add_item': // no remark: the line keeps the one it has (the + button)
        return call('POST', '/store/order/cart/add', { tableId: t, cuisineId, quantity: extra.quantity });
      case 'update_quantity':
        return call('PUT', '/store/order/cart/update', { tableId: t, cuisineId, quantity: extra.quantity });
      case 'update_remark': // remark only: no portion added (wire format of issue 11)
        return call('PUT', '/store/order/cart/update', { tableId: t, cuisineId, remark: extra.remark });
      case 'remove_item':
        return call('DELETE', `/store/order/cart/remove?tableId=${t}&cuisineId=${cuisineId}`);
      case 'clear_cart':
        return call('DELETE', `/store/order/cart/clear?tableId=${t}`);
    }
    return Promise.reject(new Error('未知的操作'));
  }

  function cartLine(cuisineId) {
    return S.cart ? S.cart.items.find((i) => i.cuisineId === cuisineId) : undefined;
  }

  function addDish(cuisineId) {
    mutate('add_item', cuisineId, { quantity: 1 });
  }

  /** The version the page shows: what − and 删除 were computed from. */
  function shownVersion() {
    const v = versionOf(S.cart);
    return v === null ? undefined : v;
  }

  /**
   * − (to `quantity`, computed from the line as shown) and 删除: absolute changes, so they are
   * conditional on the version shown; if another diner changed the cart meanwhile (added
   * portions, say) the server refuses (409) rather than take their portions away.
   */
  function setQuantity(cuisineId, quantity) {
    if (quantity <= 0) removeLine(cuisineId);
    else mutate('update_quantity', cuisineId, { quantity, ifMatch: shownVersion() });
  }

  function removeLine(cuisineId) {
    mutate('remove_item', cuisineId, { ifMatch: shownVersion() });
  }

  /** Saves a line's remark (Enter or 保存); another diner's remark is only replaced after asking. */
  async function saveRemark(cuisineId, input) {
    if (S.busy.has(cuisineId)) {
      // the dish's last change (a + or − on its line) is on its way: the save waits for its
      // answer, then reads the field as it is then (the line may have been drawn again). An Enter
      // pressed again meanwhile is the same save.
      if (remarkWaiting.has(cuisineId)) return;
      remarkWaiting.add(cuisineId);
      try {
        while (S.busy.has(cuisineId)) await whenIdle(cuisineId);
      } finally {
        remarkWaiting.delete(cuisineId);
      }
      input = remarkInput(cuisineId);
      if (!input) return; // the line went with that change
    }
    const item = cartLine(cuisineId);
    if (!item) return;
    const remark = input.value.trim();
    if (remark === (item.remark || '')) {
      input.value = remark;
      input.dataset.dirty = '';
      return;
    }
    if (codePoints(remark) > MAX_REMARK) {
      toastError(`备注最多 ${MAX_REMARK} 个字。`);
      return;
    }
    const by = item.remarkUserId;
    if (item.remark && by !== null && by !== undefined && Number(by) !== userId) {
      const ok = await confirmRemark(nameOf(by), item.remark);
      if (!ok) {
        // the cart may have been drawn again meanwhile: reset the field that is there now
        const now = remarkInput(cuisineId);
        const line = cartLine(cuisineId);
        if (now) {
          now.value = line && line.remark ? line.remark : '';
          now.dataset.dirty = '';
        }
        return;
      }
    }
    if (await mutate('update_remark', cuisineId, { remark })) {
      const now = remarkInput(cuisineId);
      if (now) now.dataset.dirty = '';
    }
  }

  function remarkInput(cuisineId) {
    return document.querySelector(`#cart-items .remark-input[data-cuisine-id="${cuisineId}"]`);
  }

  function confirmRemark(who, old) {
    const d = $('confirm-remark');
    setChildren($('confirm-remark-text'), '这条备注是', isolated(who), '写的：“', isolated(old), '”。');
    return ask(d).then((v) => v === 'ok');
  }

  /**
   * Opens a confirm <dialog> over the page; resolves with the value of the button that closed it
   * ('' for Esc). A browser without showModal (Safari before 15.4, old WebViews) gets the same
   * dialog shown by the page (`.dialog-fallback` in app.css, over a backdrop that takes the taps),
   * its buttons and Esc handled here: its form's method="dialog" would there be sent as a GET of
   * the page, losing the diner's place.
   */
  function ask(d) {
    return new Promise((resolve) => {
      d.returnValue = '';
      if (typeof d.showModal === 'function') {
        d.addEventListener('close', () => resolve(d.returnValue), { once: true });
        d.showModal();
        return;
      }
      const back = document.activeElement;
      const backdrop = el('div', { className: 'dialog-backdrop' });
      const done = (value) => {
        d.removeEventListener('click', onClick);
        d.removeEventListener('submit', onSubmit);
        document.removeEventListener('keydown', onKey, true);
        d.removeAttribute('open');
        d.classList.remove('dialog-fallback');
        backdrop.remove();
        if (back && back.focus) back.focus({ preventScroll: true });
        resolve(value);
      };
      const onClick = (ev) => {
        const b = ev.target.closest('button[value]');
        if (!b) return;
        ev.preventDefault();
        done(b.value);
      };
      const onSubmit = (ev) => ev.preventDefault();
      const onKey = (ev) => {
        if (ev.key !== 'Escape') return;
        ev.preventDefault();
        ev.stopPropagation();
        done('');
      };
      d.addEventListener('click', onClick);
      d.addEventListener('submit', onSubmit);
      document.addEventListener('keydown', onKey, true);
      d.parentNode.insertBefore(backdrop, d);
      d.classList.add('dialog-fallback');
      d.setAttribute('open', '');
      const first = d.querySelector('button');
      if (first) first.focus({ preventScroll: true });
    });
  }

  // ---------------------------------------------------------------------------------------
  // who is at the table

  /** A seated diner: from the last presence, else from the cart's own `diners` (polling). */
  function diner(id) {
    if (id === null || id === undefined) return null;
    const lists = [S.presence && S.presence.diners, S.cart && S.cart.diners];
    for (const list of lists) {
      const d = Array.isArray(list) && list.find((x) => Number(x.userId) === Number(id));
      if (d) return d;
    }
    return null;
  }

  /** A diner's name as the table knows it: their chosen name or seat (张三, 2号). */
  function nameOf(id) {
    if (id === null || id === undefined) return '同桌';
    const d = diner(id);
    if (d && typeof d.name === 'string' && d.name !== '') return d.name;
    return '用户' + String(id).slice(-4);
  }

  function renderPresence() {
    const p = S.presence;
    const pe = $('presence');
    if (!p) {
      pe.hidden = true;
      $('my-name').hidden = true;
      return;
    }
    pe.textContent = `${p.online} 人在点餐`;
    pe.dataset.online = String(p.online);
    pe.hidden = false;
    const me = diner(userId);
    $('my-name-text').textContent = me ? nameOf(userId) : '';
    // the button's accessible name is its aria-label alone: it carries the name itself, so that a
    // screen reader says whose it is, not only what it does
    $('my-name').setAttribute('aria-label', me ? `我的昵称：${nameOf(userId)}，点按修改` : '我的昵称，点按修改');
    $('my-name').hidden = !me || !$('name-form').hidden;
  }

  function openNameForm() {
    const me = diner(userId);
    $('name-input').value = me ? nameOf(userId) : '';
    $('my-name').hidden = true;
    $('name-form').hidden = false;
    $('topbar').classList.add('editing-name'); // app.css: room for the field on a narrow phone
    $('name-input').focus();
    $('name-input').select();
  }

  function closeNameForm() {
    const inside = $('name-form').contains(document.activeElement);
    $('name-form').hidden = true;
    $('topbar').classList.remove('editing-name');
    renderPresence();
    if (inside && !$('my-name').hidden) $('my-name').focus({ preventScroll: true }); // not to nowhere
  }

  async function saveName(ev) {
    ev.preventDefault();
    const name = $('name-input').value.trim();
    const n = codePoints(name);
    if (n < 1 || n > MAX_NAME || /[\u0000-\u001f\u007f]/.test(name)) {
      toastError(`昵称须为 1 到 ${MAX_NAME} 个字。`);
      return;
    }
    if (S.busy.has('name')) return;
    S.busy.add('name');
    $('name-save').disabled = true;
    try {
      let presence;
      if (S.transport === 'ws' && wsConn && wsConn.isOpen()) presence = await wsConn.command('set_name', null, { name });
      else presence = await api('PUT', `/store/order/table/${S.tableId}/name`, { name }, { 'Idempotency-Key': changeKey() });
      closeNameForm();
      applyPresence(presence);
    } catch (e) {
      if (isAuthError(e)) authFatal(e);
      else toastError(e.message || '昵称没有保存，请重试。');
    } finally {
      S.busy.delete('name');
      $('name-save').disabled = false;
    }
  }

  // ---------------------------------------------------------------------------------------
  // rendering: the menu

  function imageFor(url, alt) {
    const img = el('img', { className: 'dish-img', alt: alt, loading: 'lazy', decoding: 'async', width: 72, height: 72 });
    // any URL is harmless in <img src> (no script runs from it); empty or missing → placeholder
    const ok = typeof url === 'string' && url.trim() !== '';
    img.addEventListener('error', () => {
      img.classList.add('placeholder');
      if (!img.src.endsWith(PLACEHOLDER)) img.src = PLACEHOLDER;
    });
    if (ok) img.src = url;
    else {
      img.classList.add('placeholder');
      img.src = PLACEHOLDER;
    }
    return img;
  }

  /** A dish's section: its `category` (a menu file field), else 单品 / 套餐 by cuisineType. */
  function categoryOf(c) {
    if (typeof c.category === 'string' && c.category.trim() !== '') return c.category.trim();
    return TYPE_NAMES[c.cuisineType === 2 ? 2 : 1];
  }

  let railLockUntil = 0; // after a tap on the rail, the tapped category stays lit while we scroll

  function renderMenu() {
    noteFocus();
    const groups = $('menu-groups');
    const rail = $('menu-rail');
    setChildren(groups);
    setChildren(rail);
    // sections in the order their first dish comes in the menu (the server sends id order)
    const byCat = new Map();
    for (const c of S.menu) {
      const k = categoryOf(c);
      if (!byCat.has(k)) byCat.set(k, []);
      byCat.get(k).push(c);
    }
    let i = 0;
    for (const [name, list] of byCat) {
      const id = 'cat-' + i++;
      rail.append(
        el('button', {
          type: 'button',
          className: 'rail-item',
          text: name,
          dataset: { target: id },
          'aria-controls': id,
          onclick: () => goToCategory(id),
        })
      );
      const ul = el('ul', { className: 'dish-list' });
      for (const c of list) ul.append(renderDish(c));
      groups.append(el('section', { id, className: 'menu-group', dataset: { category: name } }, el('h2', { className: 'menu-group-title', text: name }), ul));
    }
    if (S.menu.length === 0) groups.append(el('p', { className: 'menu-empty', text: '这张餐桌的菜单还是空的。' }));
    refreshControls();
    spy();
  }

  function renderDish(c) {
    const soldOut = c.available === false;
    const name = c.cuisineName == null ? '' : String(c.cuisineName);
    const controls = el('div', { className: 'stepper' });
    const li = el(
      'li',
      { className: 'dish' + (soldOut ? ' sold-out' : ''), dataset: { cuisineId: String(c.cuisineId) } },
      imageFor(c.cuisineImage, name),
      el(
        'div',
        { className: 'dish-body' },
        el('div', { className: 'dish-name', text: name }),
        el('div', { className: 'dish-meta' }, soldOut ? el('span', { className: 'sold-out-badge', text: '已售罄' }) : null),
        el('div', { className: 'dish-actions' }, el('span', { className: 'money dish-price', text: '¥' + money(c.unitPrice) }), controls)
      )
    );
    li._controls = controls;
    li._dish = c;
    return li;
  }

  // Keyboard and screen-reader focus. Every answer and every push rebuilds the steppers (and the
  // cart's lines), and a busy control is disabled: the button the diner was on would be gone,
  // focus thrown back to the top of the page after each tap or each change by someone else. The
  // control that had focus is remembered by what it is (menu or cart, dish, −/+/删除) and the
  // new one gets the focus back — once it is enabled again, if it was busy. A − or a line that
  // went hands it on: to the dish's +, or to the line that took the removed one's place.
  let focusWanted = null;

  function controlKey(node) {
    if (!(node instanceof HTMLButtonElement)) return null;
    const cl = node.classList;
    const role = cl.contains('btn-minus') ? 'minus' : cl.contains('btn-plus') || cl.contains('btn-add') ? 'plus' : cl.contains('btn-remove') ? 'remove' : cl.contains('btn-remark-save') ? 'save' : null;
    if (!role) return null;
    const dishLi = node.closest('#menu-groups .dish');
    if (dishLi) return { area: 'menu', id: dishLi.dataset.cuisineId, role };
    const line = node.closest('#cart-items .cart-line');
    if (line) return { area: 'cart', id: line.dataset.cuisineId, role, index: Array.prototype.indexOf.call(line.parentNode.children, line) };
    return null;
  }

  const ROLE_SELECTOR = { minus: '.btn-minus', plus: '.btn-plus, .btn-add', remove: '.btn-remove', save: '.btn-remark-save' };

  function focusTarget(k) {
    if (k.area === 'menu') {
      const li = document.querySelector(`#menu-groups .dish[data-cuisine-id="${k.id}"]`);
      if (!li) return null;
      return li.querySelector(ROLE_SELECTOR[k.role]) || li.querySelector(ROLE_SELECTOR.plus);
    }
    const lines = document.querySelectorAll('#cart-items .cart-line');
    const li = document.querySelector(`#cart-items .cart-line[data-cuisine-id="${k.id}"]`) || lines[Math.min(k.index, lines.length - 1)];
    if (!li) return $('cart').hidden ? null : $('cart-close');
    return li.querySelector(ROLE_SELECTOR[k.role]);
  }

  /** Before a redraw: remember the control that has focus. */
  function noteFocus() {
    const k = controlKey(document.activeElement);
    if (k) focusWanted = k;
  }

  /** After a redraw: give the focus back to the control that had it, when it can take it. */
  function restoreFocus() {
    if (!focusWanted) return;
    const a = document.activeElement;
    const t = focusTarget(focusWanted);
    if (t && t === a) {
      // a disabled control loses its focus a moment later (the browser's focus fixup): keep
      // wanting it until it is enabled again
      if (!t.disabled) focusWanted = null;
      return;
    }
    if (a && a !== document.body) {
      focusWanted = null; // the diner moved on
      return;
    }
    if (!t || t.disabled) return; // busy: once it is enabled again
    focusWanted = null;
    t.focus({ preventScroll: true });
  }

  // a tap or a key elsewhere means the diner moved on
  document.addEventListener('pointerdown', () => (focusWanted = null), true);

  /** Refreshes each dish's stepper (+, or − n +) and the cart's buttons from the cart. */
  function refreshControls() {
    noteFocus();
    for (const li of document.querySelectorAll('#menu-groups .dish')) {
      const c = li._dish;
      const controls = li._controls;
      const line = cartLine(c.cuisineId);
      const busy = S.busy.has(c.cuisineId) || S.busy.has('all');
      const soldOut = c.available === false;
      const label = c.cuisineName == null ? '' : String(c.cuisineName);
      setChildren(controls);
      if (line) {
        controls.append(
          el('button', { type: 'button', className: 'btn-round btn-minus', disabled: busy, text: '−', 'aria-label': '减一份 ' + label, onclick: () => setQuantity(c.cuisineId, line.quantity - 1) }),
          el('span', { className: 'qty', text: String(line.quantity) })
        );
      }
      if (soldOut) {
        controls.append(el('button', { type: 'button', className: 'btn-round btn-add btn-sold-out', disabled: true, text: '+', 'aria-label': label + ' 已售罄' }));
      } else {
        controls.append(
          el('button', {
            type: 'button',
            className: 'btn-round ' + (line ? 'btn-plus' : 'btn-add'),
            disabled: busy || (line && line.quantity >= MAX_QTY),
            text: '+',
            'aria-label': (line ? '加一份 ' : '加入 ') + label,
            onclick: () => addDish(c.cuisineId),
          })
        );
      }
    }
    for (const li of document.querySelectorAll('#cart-items .cart-line')) {
      const id = Number(li.dataset.cuisineId);
      const busy = S.busy.has(id) || S.busy.has('all');
      for (const b of li.querySelectorAll('button')) {
        const blocked = b.classList.contains('btn-plus') && (Number(li.dataset.quantity) >= MAX_QTY || li.classList.contains('unavailable'));
        b.disabled = busy || blocked;
      }
    }
    $('clear-cart').disabled = S.busy.has('all') || !S.cart || S.cart.items.length === 0;
    restoreFocus();
  }

  // The category rail: the section whose heading has passed under the top bar is lit; a tap
  // scrolls its heading to just below the bar (scroll-margin-top in app.css).

  function topbarBottom() {
    return $('topbar').getBoundingClientRect().bottom;
  }

  function setActive(id) {
    const rail = $('menu-rail');
    for (const b of rail.querySelectorAll('.rail-item')) {
      const on = b.dataset.target === id;
      b.classList.toggle('active', on);
      if (on) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
      if (on) {
        // keep the lit item in view inside the rail without scrolling the page
        const r = b.getBoundingClientRect();
        const rr = rail.getBoundingClientRect();
        if (r.top < rr.top) rail.scrollTop -= rr.top - r.top;
        else if (r.bottom > rr.bottom) rail.scrollTop += r.bottom - rr.bottom;
      }
    }
  }

  function spy() {
    if (Date.now() < railLockUntil) return;
    const sections = document.querySelectorAll('#menu-groups .menu-group');
    if (sections.length === 0) return;
    const line = topbarBottom() + 8;
    let current = sections[0].id;
    for (const s of sections) if (s.getBoundingClientRect().top <= line) current = s.id;
    setActive(current);
  }

  function goToCategory(id) {
    const s = $(id);
    if (!s) return;
    setActive(id);
    railLockUntil = Date.now() + 1000; // a smooth scroll passes other sections on its way
    const h = s.querySelector('.menu-group-title');
    // the heading carries scroll-margin-top (app.css): it stops just below the top bar; a browser
    // without it (Chrome before 69, Safari before 14.1) is scrolled there by hand, 4 px below
    if (HAS_SCROLL_MARGIN) h.scrollIntoView({ block: 'start', behavior: reduceMotion() ? 'auto' : 'smooth' });
    else window.scrollTo(0, window.pageYOffset + h.getBoundingClientRect().top - topbarBottom() - 4);
  }

  const HAS_SCROLL_MARGIN = !!(window.CSS && CSS.supports && CSS.supports('scroll-margin-top', '1px'));

  let spyQueued = false;
  window.addEventListener(
    'scroll',
    () => {
      if (spyQueued) return;
      spyQueued = true;
      requestAnimationFrame(() => {
        spyQueued = false;
        spy();
      });
    },
    { passive: true }
  );
  window.addEventListener('scrollend', () => {
    railLockUntil = 0;
    spy();
  });

  // ---------------------------------------------------------------------------------------
  // rendering: the cart

  /**
   * A name (or any text a diner wrote) in its own <bdi>: direction marks or overrides inside it
   * (U+202E…) cannot reorder what comes after it, such as the portions or another diner's name.
   */
  const isolated = (text) => el('bdi', { text });

  /** Who added to a line: `张三 2 份 · 我 1 份` from shares; without shares, the first adder. */
  function whoNodes(item) {
    if (Array.isArray(item.shares) && item.shares.length > 0) {
      const out = [];
      item.shares.forEach((s, i) => {
        if (i > 0) out.push(' · ');
        out.push(isolated(s.userId !== null && s.userId !== undefined && Number(s.userId) === userId ? '我' : nameOf(s.userId)), ` ${s.quantity} 份`);
      });
      return out;
    }
    const id = item.addUserId;
    if (id !== null && id !== undefined && Number(id) === userId) return ['我点的'];
    if (diner(id)) return [isolated(nameOf(id)), '点的'];
    if (item.addUserPhone) return [isolated(maskPhone(item.addUserPhone)), '点的'];
    return [isolated(nameOf(id)), '点的'];
  }

  /**
   * Remarks being typed survive a re-render (somebody else's change must not wipe them); a field
   * that only has focus keeps its focus and selection but shows the server's remark.
   */
  function draftsOf() {
    const drafts = new Map();
    for (const input of document.querySelectorAll('#cart-items .remark-input')) {
      if (input.dataset.dirty === '1' || document.activeElement === input) {
        drafts.set(input.dataset.cuisineId, {
          value: input.dataset.dirty === '1' ? input.value : null,
          dirty: input.dataset.dirty,
          focused: document.activeElement === input,
          start: input.selectionStart,
          end: input.selectionEnd,
        });
      }
    }
    return drafts;
  }

  // An input method composing a word in a remark field (pinyin "wei la" before 微辣 is picked)
  // owns that field until compositionend: a new field would end the composition and get its
  // letters as text ("wei la微辣"). While one composes, the cart's lines wait to be drawn; the
  // menu's steppers follow at once.
  let composing = null; // the remark field an input method is composing in
  let cartWaiting = false; // a cart came while it was composing

  function composeStart(input) {
    composing = input;
  }

  function composeEnd() {
    composing = null;
    // a moment later: where the last input event comes after compositionend (Safari), the field
    // holds the picked word by then
    setTimeout(() => {
      if (cartWaiting && !composing && S.cart) renderCart();
    }, 0);
  }

  function renderCart() {
    if (composing && composing.isConnected) {
      cartWaiting = true;
      refreshControls();
      return;
    }
    cartWaiting = false;
    const cart = S.cart;
    const ul = $('cart-items');
    const drafts = draftsOf();
    noteFocus();
    setChildren(ul);
    for (const item of cart.items) {
      const id = item.cuisineId;
      const dish = S.menuById.get(id);
      const unavailable = S.menu.length > 0 && (!dish || dish.available === false);
      const now = dish && !unavailable && money(dish.unitPrice) !== money(item.unitPrice) ? money(dish.unitPrice) : null;
      // each control names its line's dish: a screen reader reads a control alone, and a cart
      // of many lines would otherwise be a list of identical 减一份 / 删除 / 备注
      const dname = item.cuisineName == null ? '' : String(item.cuisineName);
      const input = el('input', {
        className: 'remark-input',
        type: 'text',
        value: item.remark == null ? '' : String(item.remark),
        placeholder: '加备注，如：微辣',
        maxLength: 400, // code units; the 200-character rule is checked on save
        enterKeyHint: 'done',
        'aria-label': `${dname} 的备注`,
        dataset: { cuisineId: String(id) },
        oninput: () => (input.dataset.dirty = '1'),
        // Enter while 保存 is disabled (the line's change on its way): a browser does not submit
        // a form whose submit button is disabled, so the save is started here, and waits
        onkeydown: (ev) => {
          if (ev.key !== 'Enter' || ev.isComposing || ev.keyCode === 229) return;
          const save = input.form && input.form.querySelector('.btn-remark-save');
          if (!save || !save.disabled) return;
          ev.preventDefault();
          saveRemark(id, input);
        },
        oncompositionstart: () => composeStart(input),
        oncompositionend: composeEnd,
      });
      const form = el(
        'form',
        {
          className: 'cart-line-remark',
          onsubmit: (ev) => {
            ev.preventDefault();
            saveRemark(id, input);
          },
        },
        el('label', { className: 'remark-label', text: '备注：' }),
        input,
        el('button', { type: 'submit', className: 'btn btn-ghost btn-small btn-remark-save', text: '保存', 'aria-label': `保存 ${dname} 的备注` })
      );
      const d = drafts.get(String(id));
      if (d && d.value !== null) {
        input.value = d.value;
        input.dataset.dirty = d.dirty || '';
      }
      ul.append(
        el(
          'li',
          {
            className: 'cart-line' + (unavailable ? ' unavailable' : ''),
            dataset: { cuisineId: String(id), quantity: String(item.quantity) },
          },
          el(
            'div',
            { className: 'cart-line-main' },
            el('div', { className: 'cart-line-name' }, el('span', { text: dname }), unavailable ? el('span', { className: 'sold-out-badge', text: '已售罄' }) : null),
            el(
              'div',
              { className: 'cart-line-meta' },
              el('span', { className: 'money cart-line-price', text: '¥' + money(item.unitPrice) }),
              now ? el('span', { className: 'money cart-line-now', text: `现价 ¥${now}` }) : null
            ),
            el('div', { className: 'cart-line-who' }, ...whoNodes(item)),
            form
          ),
          el(
            'div',
            { className: 'cart-line-side' },
            el('div', { className: 'money cart-line-subtotal', text: '¥' + money(item.subtotalAmount) }),
            el(
              'div',
              { className: 'stepper qty-controls' },
              el('button', { type: 'button', className: 'btn-round btn-minus', text: '−', 'aria-label': '减一份 ' + dname, onclick: () => setQuantity(id, item.quantity - 1) }),
              el('span', { className: 'qty', text: String(item.quantity) }),
              el('button', { type: 'button', className: 'btn-round btn-plus', text: '+', 'aria-label': '加一份 ' + dname, onclick: () => addDish(id) })
            ),
            el('button', { type: 'button', className: 'btn btn-link btn-remove', text: '删除', 'aria-label': '删除 ' + dname, onclick: () => removeLine(id) })
          )
        )
      );
      if (d && d.focused) {
        input.focus();
        try {
          input.setSelectionRange(d.start, d.end);
        } catch (_) {
          /* ignore */
        }
      }
    }
    $('cart-empty').hidden = cart.items.length > 0;
    const count = String(orZero(cart.totalQuantity));
    const amount = money(orZero(cart.totalAmount));
    $('total-quantity').textContent = count;
    $('total-amount').textContent = amount;
    $('bar-quantity').textContent = count;
    $('bar-amount').textContent = amount;
    $('bottombar').classList.toggle('empty', cart.items.length === 0);
    fitBar();
    refreshControls();
    window.__tablecart.renderedAt = Date.now();
  }

  /** Drops the bar's 购物车 label when the bar cannot hold it beside the total and 查看. */
  function fitBar() {
    const bar = $('bottombar');
    const button = $('cart-open');
    bar.classList.remove('tight');
    if (button.scrollWidth > button.clientWidth) bar.classList.add('tight');
  }
  window.addEventListener('resize', fitBar);

  // The cart drawer: opened from the bottom bar, closed by ×, the backdrop or Escape.

  // Focus goes into the drawer when it opens (a keyboard or screen-reader user is then in it, not
  // behind it) and back to 查看 when it closes, rather than to nowhere with the hidden drawer.
  // While it is open it is modal (aria-modal in index.html): the page behind the backdrop is
  // `inert` (no focus, no taps: a tap on the bar goes through to the backdrop, which closes the
  // drawer), and Tab and Shift+Tab go round its own controls. A browser without `inert` (Chrome
  // before 102, Safari before 15.5) keeps the focus in the drawer all the same: focus that lands
  // behind it is taken back.

  const BEHIND_DRAWER = ['topbar', 'app', 'bottombar'];

  const drawerOpen = () => !$('cart').hidden;

  function setBehindDrawer(inert) {
    for (const id of BEHIND_DRAWER) {
      if (inert) $(id).setAttribute('inert', '');
      else $(id).removeAttribute('inert');
    }
  }

  function openCart() {
    $('cart').hidden = false;
    $('drawer-backdrop').hidden = false;
    $('cart-open').setAttribute('aria-expanded', 'true');
    document.body.classList.add('drawer-open');
    setBehindDrawer(true);
    $('cart-close').focus({ preventScroll: true });
  }

  function closeCart() {
    const inside = $('cart').contains(document.activeElement);
    $('cart').hidden = true;
    $('drawer-backdrop').hidden = true;
    $('cart-open').setAttribute('aria-expanded', 'false');
    document.body.classList.remove('drawer-open');
    setBehindDrawer(false);
    if (inside) $('cart-open').focus({ preventScroll: true });
  }

  /** The drawer's controls that take focus now, in document (Tab) order. */
  function drawerControls() {
    return Array.prototype.filter.call($('cart').querySelectorAll('button, input'), (e) => !e.disabled && e.getClientRects().length > 0);
  }

  document.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Tab' || !drawerOpen() || document.querySelector('dialog[open]')) return;
    const list = drawerControls();
    if (list.length === 0) return;
    const a = document.activeElement;
    const first = list[0];
    const last = list[list.length - 1];
    let to = null;
    if (!$('cart').contains(a)) to = ev.shiftKey ? last : first;
    else if (!ev.shiftKey && a === last) to = first;
    else if (ev.shiftKey && a === first) to = last;
    if (!to) return;
    ev.preventDefault();
    to.focus({ preventScroll: true });
  });

  document.addEventListener('focusin', (ev) => {
    const t = ev.target;
    if (!drawerOpen() || !(t instanceof Element) || $('cart').contains(t) || t.closest('dialog')) return;
    $('cart-close').focus({ preventScroll: true });
  });

  function setConn(state) {
    S.conn = state;
    const e = $('conn-state');
    e.dataset.state = state;
    e.dataset.transport = S.transport || '';
    e.textContent = STATE_TEXT[state];
  }

  function fatal(title, message) {
    stopLive();
    closeCart();
    $('loading').hidden = true;
    $('menu').hidden = true;
    $('bottombar').hidden = true;
    $('fatal-title').textContent = title;
    $('fatal-message').textContent = message;
    $('fatal').hidden = false;
    document.body.classList.add('has-fatal');
  }

  /**
   * The server refused the diner's token (401: missing, expired, bad; 403: not for this table):
   * reconnecting cannot help, so the page stops for good and says why in the server's words
   * (`登录已过期，请重新扫码`), with no 重试 button.
   */
  function authFatal(e) {
    S.stopped = true;
    fatal(e.status === 403 ? '不能在这张桌点餐' : '登录已失效', e.message);
    $('fatal-retry').hidden = true;
    setConn('disconnected');
  }

  // ---------------------------------------------------------------------------------------
  // live channels. Each opener takes callbacks and returns {close()}; `onConnected` fires on the
  // server's own `connected` message (not on TCP open: a proxy that accepts and drops does not
  // count), `onFail(wasConnected)` once when the channel dies.

  function openSSE({ onConnected, onCart, onMenu, onPresence, onFail }) {
    const url = `${API}/store/order/sse/${S.tableId}?${streamQuery()}`;
    const es = new EventSource(url);
    let connected = false;
    let dead = false;
    let firstCart = true;
    let watchdog = null;
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => fail(), connected ? WATCHDOG_MS : CONNECT_MS);
    };
    const fail = () => {
      if (dead) return;
      dead = true;
      clearTimeout(watchdog);
      es.close(); // we reconnect ourselves, with back-off and fallback
      onFail(connected);
    };
    kick();
    es.addEventListener('connected', () => {
      const first = !connected;
      connected = true;
      kick(); // the silence limit from now on, no longer the connect limit
      if (first) {
        firstCart = true;
        onConnected();
      }
    });
    es.addEventListener('cart_update', (ev) => {
      kick();
      let cart;
      try {
        cart = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      onCart(cart, { snapshot: firstCart });
      firstCart = false;
    });
    // beyond the seed (issue 11): the new menu, who is at the table
    const json = (handler) => (ev) => {
      kick();
      try {
        handler(JSON.parse(ev.data));
      } catch (_) {
        /* not JSON: ignore */
      }
    };
    es.addEventListener('menu_update', json(onMenu));
    es.addEventListener('presence', json(onPresence));
    es.addEventListener('heartbeat', kick);
    es.onerror = fail;
    return {
      close() {
        dead = true;
        clearTimeout(watchdog);
        es.close();
      },
    };
  }

  let wsConn = null;

  function openWS({ onConnected, onCart, onMenu, onPresence, onFail }) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws/cart/${S.tableId}?${streamQuery()}`);
    let connected = false;
    let dead = false;
    let firstCart = true;
    let watchdog = null;
    let hb = null;
    const waiting = []; // replies come back in order: one success or error per command
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => fail(), connected ? WATCHDOG_MS : CONNECT_MS);
    };
    const fail = () => {
      if (dead) return;
      dead = true;
      cleanup();
      try {
        ws.close();
      } catch (_) {
        /* ignore */
      }
      onFail(connected);
    };
    const cleanup = () => {
      clearTimeout(watchdog);
      clearInterval(hb);
      // the socket is gone with these commands' replies: nobody knows whether the server applied
      // them, so they fail as a change whose connection failed (the lost-answer path in mutate)
      while (waiting.length) waiting.shift().reject(new ApiError('无法连接服务器，请检查网络。', 0, true));
    };
    kick();
    ws.onmessage = (ev) => {
      kick();
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch (_) {
        return;
      }
      switch (m && m.type) {
        case 'connected':
          if (!connected) {
            connected = true;
            kick(); // the silence limit from now on, no longer the connect limit
            firstCart = true;
            hb = setInterval(() => send({ type: 'heartbeat' }), HEARTBEAT_MS);
            onConnected();
          }
          break;
        case 'cart_update':
          onCart(m.data, { snapshot: firstCart });
          firstCart = false;
          break;
        case 'menu_update':
          onMenu(m.data);
          break;
        case 'presence':
          onPresence(m.data);
          break;
        case 'add_item_success':
        case 'update_quantity_success':
        case 'remove_item_success':
        case 'clear_cart_success':
        case 'set_name_success': {
          const w = waiting.shift();
          if (w) w.resolve(m.data);
          else onCart(m.data, {});
          break;
        }
        case 'error': {
          const w = waiting.shift();
          if (w) w.reject(new Error(m.message || '操作失败，请重试。'));
          else toastError(m.message || '操作失败，请重试。');
          break;
        }
        default: // heartbeat (pong) and anything newer: the watchdog was kicked, that's all
      }
    };
    ws.onerror = () => {
      /* onclose follows */
    };
    ws.onclose = fail;
    const send = (obj) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
    };
    const conn = {
      isOpen: () => connected && !dead && ws.readyState === WebSocket.OPEN,
      /** A command; a cart change carries `key`, its Idempotency-Key (`idempotencyKey`). */
      command(type, cuisineId, extra, key) {
        return new Promise((resolve, reject) => {
          const msg = { type };
          if (key) msg.idempotencyKey = key; // the same key space as the HTTP header's
          if (type === 'add_item') msg.data = { cuisineId, quantity: extra.quantity, remark: null }; // keeps the remark
          else if (type === 'update_quantity') msg.data = { cuisineId, quantity: extra.quantity };
          else if (type === 'update_remark') {
            msg.type = 'update_quantity'; // remark only: no portion added (issue 11)
            msg.data = { cuisineId, remark: extra.remark };
          } else if (type === 'remove_item') msg.data = { cuisineId };
          else if (type === 'set_name') msg.data = { name: extra.name };
          const w = { resolve, reject };
          // No reply in time: the socket is dead (half-open after a network change, say) or
          // lost its place. Replies are paired with commands by order, so a late one would be
          // taken as the next command's: close the socket (the commands still waiting on it,
          // sent after this one, got no reply either) and reconnect the usual way, which reads
          // the cart again. Earlier commands were answered or timed out first, so `w` is first.
          const timer = setTimeout(() => {
            while (waiting.length) waiting.shift().reject(new Error(NO_ANSWER_TEXT));
            fail();
          }, WS_REPLY_TIMEOUT_MS);
          w.resolve = (v) => (clearTimeout(timer), resolve(v));
          w.reject = (e) => (clearTimeout(timer), reject(e));
          waiting.push(w);
          send(msg);
        });
      },
      close() {
        dead = true;
        cleanup();
        ws.close();
      },
    };
    return conn;
  }

  function openPoll({ onConnected, onCart, onMenu, onFail }) {
    let stopped = false;
    let timer = null;
    let connected = false;
    let ticks = 0;
    const tick = async () => {
      if (stopped) return;
      const v = versionOf(S.cart);
      const seq = S.ownSeq;
      try {
        const data = await api('GET', `/store/order/cart/${S.tableId}`, undefined, v !== null ? { 'If-None-Match': `"v${v}"` } : undefined);
        if (stopped) return;
        if (!connected) {
          connected = true;
          onConnected();
        }
        // A 200 is the server's word at this moment, taken even when its version is lower
        // (a restart on a new database); unless the answer to one of our own changes was applied
        // while this poll was on its way: then it may be the older one, and the next poll says.
        if (!data.notModified) onCart(data, { snapshot: S.ownSeq === seq });
        // no menu_update without a stream: read the menu again now and then
        if (++ticks % POLL_MENU_EVERY === 0) {
          const menu = await api('GET', `/store/order/menu/${S.tableId}`);
          if (stopped) return;
          onMenu(menu);
        }
        timer = setTimeout(tick, document.hidden ? POLL_MS * 5 : POLL_MS);
      } catch (e) {
        if (stopped) return;
        stopped = true;
        onFail(connected, e);
      }
    };
    tick();
    return {
      close() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  const OPENERS = { sse: openSSE, ws: openWS, poll: openPoll };

  /** Which streams this browser has at all (an old WebView may lack one); polling always works. */
  const HAS = { sse: typeof window.EventSource === 'function', ws: typeof window.WebSocket === 'function', poll: true };

  // The controller: one live channel at a time; on failure, back off and retry; a transport that
  // keeps failing while plain HTTP works is blocked somewhere (proxy, firewall), so move on to
  // the next one in S.order, ending with polling. Every channel carries a tag; its callbacks only
  // act while tag.gen is the current generation (a trial, tag.gen -1, is not live yet).
  let live = null; // tag of the live channel
  let retryTimer = null;
  let upgradeTimer = null;
  let upgradeTrial = null; // tag of a stream being tried while we poll
  let attempt = 0;
  let failsHere = 0;
  let generation = 0;

  function stopLive() {
    generation++;
    clearTimeout(retryTimer);
    clearTimeout(upgradeTimer);
    retryTimer = upgradeTimer = null;
    if (upgradeTrial) upgradeTrial.handle.close();
    if (live) live.handle.close();
    upgradeTrial = live = wsConn = null;
  }

  function wire(tag) {
    return {
      onConnected: () => {
        if (tag.gen === -1) adopt(tag);
        if (tag.gen !== generation) return;
        attempt = 0;
        failsHere = 0;
        setConn('connected');
        if (tag.kind === 'poll' && S.idx > 0) scheduleUpgrade();
      },
      onCart: (cart, opts) => {
        if (tag.gen === generation) applyCart(cart, opts);
      },
      onMenu: (menu) => {
        if (tag.gen === generation) applyMenu(menu);
      },
      onPresence: (p) => {
        if (tag.gen === generation) applyPresence(p);
      },
      onFail: (wasConnected, err) => {
        if (tag.gen === -1) {
          // a trial that did not make it: keep polling, try again later
          if (upgradeTrial === tag) {
            upgradeTrial = null;
            scheduleUpgrade();
          }
          return;
        }
        if (tag.gen !== generation) return;
        live = wsConn = null;
        if (isAuthError(err)) {
          authFatal(err);
          return;
        }
        setConn('disconnected');
        handleFailure(tag.gen, tag.kind, wasConnected);
      },
    };
  }

  function open(kind, gen) {
    const tag = { kind, gen, handle: null };
    const w = wire(tag);
    try {
      tag.handle = OPENERS[kind](w);
    } catch (_) {
      // the browser would not even start it (a constructor that throws: a policy, a WebView that
      // forbids it): a failure like any other, told once the caller holds the tag
      tag.handle = { close() {}, isOpen: () => false };
      setTimeout(() => w.onFail(false), 0);
    }
    return tag;
  }

  function startLive() {
    if (S.stopped) return;
    stopLive();
    const kind = S.order[S.idx];
    S.transport = kind;
    if (kind === 'poll' && S.presence) {
      // polling seats nobody and hears no presence: an old count or name would only mislead
      S.presence = null;
      $('name-form').hidden = true;
    $('topbar').classList.remove('editing-name');
      renderPresence();
      if (S.cart) renderCart(); // names on the lines: from the cart's own diners, if any
    }
    setConn('connecting');
    live = open(kind, generation);
    if (kind === 'ws') wsConn = live.handle;
  }

  /** A trial stream connected while we were polling: it becomes the live channel. */
  function adopt(tag) {
    if (upgradeTrial !== tag) {
      tag.handle.close();
      return;
    }
    upgradeTrial = null;
    stopLive(); // closes the polling loop
    tag.gen = generation;
    S.idx = 0;
    S.transport = tag.kind;
    live = tag;
    if (tag.kind === 'ws') wsConn = tag.handle;
  }

  async function handleFailure(gen, kind, wasConnected) {
    if (kind !== 'poll') {
      // A stream cannot say why it failed (EventSource and WebSocket hide the status). Ask with
      // a plain GET: a 401/403 there (token expired, bad, not for this table) ends the page;
      // an answer means the server is up (and brings the cart up to date while we are without
      // a live channel); no answer means the server or the network is down.
      let reachable = false;
      try {
        const cart = await api('GET', `/store/order/cart/${S.tableId}`);
        reachable = true;
        if (gen === generation) applyCart(cart, {});
      } catch (e) {
        if (gen === generation && isAuthError(e)) {
          authFatal(e);
          return;
        }
        /* server down or network gone: not the transport's fault */
      }
      if (gen !== generation) return;
      // a stream that failed before it ever said `connected` while plain HTTP works is blocked
      if (reachable && !wasConnected && S.idx < S.order.length - 1 && ++failsHere >= FAILS_BEFORE_FALLBACK) {
        failsHere = 0;
        S.idx++;
        attempt = 0;
        startLive();
        return;
      }
    }
    retryTimer = setTimeout(() => {
      retryTimer = null;
      if (gen === generation) startLive();
    }, backoff(attempt++));
  }

  /** Polling as a fallback: now and then, quietly try the preferred stream again. */
  function scheduleUpgrade() {
    clearTimeout(upgradeTimer);
    upgradeTimer = setTimeout(() => {
      upgradeTimer = null;
      if (S.transport !== 'poll' || S.idx === 0 || upgradeTrial) return;
      upgradeTrial = open(S.order[0], -1);
    }, UPGRADE_MS / 2 + Math.random() * UPGRADE_MS);
  }

  // ---------------------------------------------------------------------------------------
  // the transport: a debug parameter (?transport=sse|ws|poll), not something diners see

  function chooseTransport(t) {
    if (!['sse', 'ws', 'poll'].includes(t)) t = 'sse';
    S.preferred = t;
    S.order = (t === 'ws' ? ['ws', 'sse', 'poll'] : t === 'poll' ? ['poll'] : ['sse', 'ws', 'poll']).filter((k) => HAS[k]);
    S.idx = 0;
    attempt = 0;
    failsHere = 0;
  }

  // ---------------------------------------------------------------------------------------
  // start

  async function boot() {
    $('fatal').hidden = true;
    $('loading').hidden = false;
    document.body.classList.remove('has-fatal');
    if (tableParam === null || tableParam === '') {
      fatal('缺少桌号', '请扫描餐桌上的二维码进入点餐页面（网址需要带上 ?table=桌号）。');
      $('fatal-retry').hidden = true;
      return;
    }
    if (!/^[1-9]\d{0,9}$/.test(tableParam) || Number(tableParam) > 2147483647) {
      fatal('桌号无效', `“${tableParam}”不是有效的桌号，请重新扫描餐桌上的二维码。`);
      $('fatal-retry').hidden = true;
      return;
    }
    S.tableId = Number(tableParam);
    $('fatal-retry').hidden = false;
    let menu, cart;
    try {
      [menu, cart] = await Promise.all([api('GET', `/store/order/menu/${S.tableId}`), api('GET', `/store/order/cart/${S.tableId}`)]);
    } catch (e) {
      if (isAuthError(e)) authFatal(e);
      else if (e.status === 404) {
        fatal('找不到这张餐桌', `桌号 ${S.tableId} 不存在，请重新扫描餐桌上的二维码。`);
        $('fatal-retry').hidden = true;
      } else if (e.network) fatal('无法连接服务器', e.message);
      else fatal('服务器出错了', e.message);
      return;
    }
    if (!menu || !menu.table || !Array.isArray(menu.cuisines)) {
      fatal('服务器出错了', '菜单数据不完整，请稍后重试。');
      return;
    }
    $('loading').hidden = true;
    $('menu').hidden = false;
    $('bottombar').hidden = false;
    applyMenu(menu, { first: true });
    applyCart(cart, { snapshot: true });
    tellTabs({ kind: 'hello', id: changeKey() }); // the diner's other tabs here, if any, answer
    startLive();
  }

  /**
   * Whether flex containers lay out `gap` (Chrome 84, Safari 14.1). @supports cannot tell (the
   * property is known from grid): measured, as a column of two empty boxes 1 px apart.
   */
  function flexGapWorks() {
    const box = el('div', { style: 'display:flex;flex-direction:column;row-gap:1px;position:absolute;visibility:hidden' }, el('div'), el('div'));
    document.body.append(box);
    const ok = box.scrollHeight === 1;
    box.remove();
    return ok;
  }
  if (!flexGapWorks()) document.documentElement.classList.add('no-flex-gap'); // app.css spaces with margins

  $('fatal-retry').addEventListener('click', () => boot());
  $('cart-open').addEventListener('click', () => ($('cart').hidden ? openCart() : closeCart()));
  $('cart-close').addEventListener('click', closeCart);
  $('drawer-backdrop').addEventListener('click', closeCart);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !$('cart').hidden && !document.querySelector('dialog[open]')) closeCart();
  });
  // 清空 is disabled while the cart is being cleared and stays so once it is empty: the focus the
  // dialog gives back to it would fall to nothing, so it goes to the drawer's × instead
  const focusOffClear = () => {
    const a = document.activeElement;
    if ($('cart').hidden) return;
    if (!a || a === document.body || (a === $('clear-cart') && a.disabled)) $('cart-close').focus({ preventScroll: true });
  };
  $('clear-cart').addEventListener('click', () => {
    ask($('confirm-clear')).then(async (v) => {
      if (v === 'ok') {
        const done = mutate('clear_cart', null);
        focusOffClear();
        await done;
      }
      focusOffClear();
    });
  });
  $('my-name').addEventListener('click', openNameForm);
  $('name-form').addEventListener('submit', saveName);
  $('name-cancel').addEventListener('click', closeNameForm);
  $('name-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') closeNameForm();
  });
  // Back from the background or the network: don't wait for the back-off timer.
  const wake = () => {
    if (S.tableId && S.cart && !live && retryTimer !== null) {
      // waiting out a back-off: try now
      attempt = 0;
      startLive();
    }
  };
  window.addEventListener('online', wake);
  // A phone suspends a page in the background and may lose its connection without a word (a NAT
  // that forgot it, another network): the stream then looks open and brings nothing, and the
  // page would show an old cart as 已同步 until the watchdog (80 s). Back after a heartbeat
  // period or more, the page opens a new channel, whose first message is the cart as it is now.
  const AWAY_RECONNECT_MS = HEARTBEAT_MS;
  let hiddenAt = null;
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      hiddenAt = Date.now();
      return;
    }
    const away = hiddenAt === null ? 0 : Date.now() - hiddenAt;
    hiddenAt = null;
    if (away >= AWAY_RECONNECT_MS && live && S.cart && !S.stopped) {
      attempt = 0;
      startLive();
    } else wake();
  });
  window.addEventListener('pagehide', () => stopLive());
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted && S.cart && !S.stopped) startLive(); // back from the back/forward cache
  });

  chooseTransport((params.get('transport') || 'sse').toLowerCase());
  boot();
})();
