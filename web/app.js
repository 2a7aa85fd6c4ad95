// tablecart — the diners' page. Plain JS, no build step, no dependencies.
//
// One table, one shared cart. Changes go out over HTTP (SSE and polling modes) or over the
// WebSocket (WS mode); the whole cart comes back over the live channel whenever anybody at the
// table changes it. Everything the server sends (names, remarks, phones) is put into the page
// with textContent only, never innerHTML.
'use strict';

(function () {
  // ---------------------------------------------------------------------------------------
  // settings

  const API = (document.documentElement.dataset.apiPrefix || '/api').replace(/\/+$/, '');
  const HEARTBEAT_MS = 30000; // WS heartbeat, as the seed manual does it
  const WATCHDOG_MS = 80000; // nothing at all (event, heartbeat) for this long → the stream is dead
  const POLL_MS = 1000; // polling fallback: "within a second"; a 304 costs a few bytes
  const UPGRADE_MS = 60000; // while polling as a fallback, try streaming again this often
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_CAP_MS = 15000;
  const FAILS_BEFORE_FALLBACK = 2; // failures of one transport while the server answers HTTP
  const WS_REPLY_TIMEOUT_MS = 10000;
  const NOTICE_MS = 2500;
  const MAX_QTY = 99;
  const PLACEHOLDER = 'img/placeholder.svg';

  const TRANSPORT_NAMES = { sse: 'SSE', ws: 'WebSocket', poll: '轮询' };
  const STATE_TEXT = { connecting: '连接中', connected: '已连接', disconnected: '已断开' };
  const TYPE_NAMES = { 1: '单品', 2: '套餐' };

  // ---------------------------------------------------------------------------------------
  // small helpers

  const $ = (id) => document.getElementById(id);

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

  // ---------------------------------------------------------------------------------------
  // state

  const params = new URLSearchParams(location.search);
  const token = params.get('token'); // --auth jwt: the QR code's token
  const userId = token ? userIdFromToken(token) : loadUserId();
  const tableParam = params.get('table') || params.get('tableId');

  const S = {
    tableId: null,
    table: null,
    menu: [],
    menuById: new Map(),
    cart: null,
    preferred: 'sse',
    order: ['sse', 'ws', 'poll'],
    idx: 0,
    transport: null, // what is actually running: 'sse' | 'ws' | 'poll'
    conn: 'connecting',
    pendingHttp: 0,
    ownVersions: new Set(),
    maybeOthers: new Set(),
    busy: new Set(), // cuisineIds with a change in flight
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
    get state() {
      return S.conn;
    },
    get transport() {
      return S.transport;
    },
    get version() {
      return S.cart && typeof S.cart.version === 'number' ? S.cart.version : null;
    },
    notices: 0,
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

  /** Calls the API; resolves to the envelope's data, rejects with an ApiError saying why. */
  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({ Accept: 'application/json' }, authHeaders(), extraHeaders);
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError('无法连接服务器,请检查网络', 0, true);
    }
    if (res.status === 304) return { notModified: true };
    let env = null;
    try {
      env = await res.json();
    } catch (_) {
      /* not JSON: a proxy's error page, say */
    }
    if (env && typeof env === 'object' && 'success' in env) {
      if (env.success && res.ok) return env.data;
      throw new ApiError(env.message || '请求失败(HTTP ' + res.status + ')', env.code || res.status);
    }
    if (!res.ok) throw new ApiError('服务器错误(HTTP ' + res.status + ')', res.status);
    throw new ApiError('服务器返回了无法识别的数据', res.status);
  }

  // ---------------------------------------------------------------------------------------
  // applying a cart

  /**
   * Shows a cart. `own`: it answers this page's own request. `snapshot`: the first state after a
   * (re)connect, taken whatever its version. A change nobody here asked for gets a notice.
   */
  function applyCart(cart, { own = false, snapshot = false } = {}) {
    if (!cart || typeof cart !== 'object' || !Array.isArray(cart.items)) return;
    const v = typeof cart.version === 'number' ? cart.version : null;
    const cur = S.cart && typeof S.cart.version === 'number' ? S.cart.version : null;
    if (own && v !== null) {
      S.ownVersions.add(v);
      S.maybeOthers.delete(v);
      if (S.ownVersions.size > 64) S.ownVersions.delete(S.ownVersions.values().next().value);
    }
    const first = S.cart === null;
    if (v !== null && cur !== null) {
      if (v === cur) {
        flushNotices();
        return; // already showing it
      }
      if (v < cur && !snapshot) {
        flushNotices();
        return; // an older state overtaken by a newer one
      }
    }
    S.cart = cart;
    renderCart();
    if (!own && !first) {
      if (v === null) {
        if (S.pendingHttp === 0) notice();
      } else if (!S.ownVersions.has(v)) {
        if (S.pendingHttp > 0) S.maybeOthers.add(v);
        else notice();
      }
    }
    flushNotices();
  }

  /** Versions pushed while our own request was in flight that turned out not to be ours. */
  function flushNotices() {
    if (S.pendingHttp > 0 || S.maybeOthers.size === 0) return;
    S.maybeOthers.clear();
    notice();
  }

  let noticeTimer = null;
  function notice() {
    const n = $('notice');
    n.textContent = '购物车已更新';
    n.hidden = false;
    window.__tablecart.notices++;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => (n.hidden = true), NOTICE_MS);
  }

  let errTimer = null;
  function toastError(msg) {
    const t = $('toast-error');
    t.textContent = msg;
    t.hidden = false;
    clearTimeout(errTimer);
    errTimer = setTimeout(() => (t.hidden = true), 4000);
  }

  // ---------------------------------------------------------------------------------------
  // changing the cart

  /** One change: over the WebSocket when it is the live channel, else over HTTP. */
  async function mutate(kind, cuisineId, extra) {
    const key = cuisineId === null ? 'all' : cuisineId;
    if (S.busy.has(key)) return false;
    S.busy.add(key);
    refreshControls();
    try {
      if (S.transport === 'ws' && wsConn && wsConn.isOpen()) {
        const cart = await wsConn.command(kind, cuisineId, extra);
        applyCart(cart, { own: true });
      } else {
        S.pendingHttp++;
        let cart;
        try {
          cart = await httpMutation(kind, cuisineId, extra);
        } finally {
          S.pendingHttp--;
        }
        applyCart(cart, { own: true });
      }
      return true;
    } catch (e) {
      toastError('操作失败:' + e.message);
      flushNotices();
      return false;
    } finally {
      S.busy.delete(key);
      refreshControls();
    }
  }

  function httpMutation(kind, cuisineId, extra) {
    const t = S.tableId;
    switch (kind) {
      case 'add_item': {
        const body = { tableId: t, cuisineId, quantity: extra.quantity };
        if (extra.remark) body.remark = extra.remark;
        return api('POST', '/store/order/cart/add', body);
      }
      case 'update_quantity':
        return api('PUT', '/store/order/cart/update', { tableId: t, cuisineId, quantity: extra.quantity });
      case 'remove_item':
        return api('DELETE', `/store/order/cart/remove?tableId=${t}&cuisineId=${cuisineId}`);
      case 'clear_cart':
        return api('DELETE', `/store/order/cart/clear?tableId=${t}`);
    }
    return Promise.reject(new Error('unknown change ' + kind));
  }

  function cartLine(cuisineId) {
    return S.cart ? S.cart.items.find((i) => i.cuisineId === cuisineId) : undefined;
  }

  function addDish(cuisineId) {
    const input = document.querySelector(`.dish[data-cuisine-id="${cuisineId}"] .dish-remark-input`);
    const remark = input ? input.value.trim() : '';
    mutate('add_item', cuisineId, { quantity: 1, remark: remark || null }).then((ok) => {
      if (ok && input) {
        input.value = '';
        input.parentElement.hidden = true;
      }
    });
  }

  function setQuantity(cuisineId, quantity) {
    if (quantity <= 0) mutate('remove_item', cuisineId);
    else mutate('update_quantity', cuisineId, { quantity });
  }

  // ---------------------------------------------------------------------------------------
  // rendering

  function imageFor(url, alt) {
    const img = el('img', { className: 'dish-img', alt: alt, loading: 'lazy', decoding: 'async' });
    // any URL is harmless in <img src> (no script runs from it); empty or missing → placeholder
    const ok = typeof url === 'string' && url.trim() !== '';
    img.addEventListener(
      'error',
      () => {
        img.classList.add('placeholder');
        if (!img.src.endsWith(PLACEHOLDER)) img.src = PLACEHOLDER;
      },
      { once: false }
    );
    if (ok) img.src = url;
    else {
      img.classList.add('placeholder');
      img.src = PLACEHOLDER;
    }
    return img;
  }

  function renderMenu() {
    const groups = $('menu-groups');
    const tabs = $('menu-tabs');
    groups.replaceChildren();
    tabs.replaceChildren();
    const byType = new Map();
    for (const c of S.menu) {
      const t = c.cuisineType === 2 ? 2 : 1;
      if (!byType.has(t)) byType.set(t, []);
      byType.get(t).push(c);
    }
    for (const t of [1, 2]) {
      const list = byType.get(t);
      if (!list || list.length === 0) continue;
      const id = 'group-' + t;
      tabs.append(el('a', { href: '#' + id, className: 'menu-tab', text: TYPE_NAMES[t] }));
      const ul = el('ul', { className: 'dish-list' });
      for (const c of list) ul.append(renderDish(c));
      groups.append(el('section', { id, className: 'menu-group', dataset: { type: String(t) } }, el('h2', { text: TYPE_NAMES[t] }), ul));
    }
    if (S.menu.length === 0) groups.append(el('p', { className: 'menu-empty', text: '这张餐桌的菜单还是空的。' }));
  }

  function renderDish(c) {
    const soldOut = c.available === false;
    const name = c.cuisineName == null ? '' : String(c.cuisineName);
    const remarkInput = el('input', {
      className: 'dish-remark-input',
      type: 'text',
      maxLength: 200,
      placeholder: '备注(可选),如:少辣',
      'aria-label': '备注',
    });
    const remarkRow = el('div', { className: 'dish-remark', hidden: true }, remarkInput);
    const remarkToggle = el('button', {
      type: 'button',
      className: 'btn btn-link dish-remark-toggle',
      text: '备注',
      disabled: soldOut,
      onclick: () => {
        remarkRow.hidden = !remarkRow.hidden;
        if (!remarkRow.hidden) remarkInput.focus();
      },
    });
    const controls = el('div', { className: 'dish-controls' });
    const li = el(
      'li',
      { className: 'dish' + (soldOut ? ' sold-out' : ''), dataset: { cuisineId: String(c.cuisineId) } },
      imageFor(c.cuisineImage, name),
      el(
        'div',
        { className: 'dish-body' },
        el('div', { className: 'dish-name', text: name }),
        el('div', { className: 'dish-meta' }, el('span', { className: 'money dish-price', text: '¥' + money(c.unitPrice) }), soldOut ? el('span', { className: 'sold-out-badge', text: '已售罄' }) : null),
        el('div', { className: 'dish-actions' }, remarkToggle, controls),
        remarkRow
      )
    );
    li._controls = controls;
    li._dish = c;
    return li;
  }

  /** Refreshes each dish's add / − n + controls from the cart (the menu itself stays put). */
  function refreshControls() {
    for (const li of document.querySelectorAll('#menu-groups .dish')) {
      const c = li._dish;
      const controls = li._controls;
      const line = cartLine(c.cuisineId);
      const busy = S.busy.has(c.cuisineId) || S.busy.has('all');
      const soldOut = c.available === false;
      controls.replaceChildren();
      if (soldOut) {
        controls.append(el('button', { type: 'button', className: 'btn btn-add', disabled: true, text: '已售罄' }));
      } else if (!line) {
        controls.append(el('button', { type: 'button', className: 'btn btn-primary btn-add', disabled: busy, text: '加入', 'aria-label': '加入 ' + c.cuisineName, onclick: () => addDish(c.cuisineId) }));
      } else {
        controls.append(
          el('button', { type: 'button', className: 'btn btn-round btn-minus', disabled: busy, text: '−', 'aria-label': '减少', onclick: () => setQuantity(c.cuisineId, line.quantity - 1) }),
          el('span', { className: 'qty', text: String(line.quantity) }),
          el('button', { type: 'button', className: 'btn btn-round btn-plus', disabled: busy || line.quantity >= MAX_QTY, text: '+', 'aria-label': '增加', onclick: () => addDish(c.cuisineId) })
        );
      }
    }
    for (const li of document.querySelectorAll('#cart-items .cart-line')) {
      const id = Number(li.dataset.cuisineId);
      const busy = S.busy.has(id) || S.busy.has('all');
      for (const b of li.querySelectorAll('button')) b.disabled = busy || (b.classList.contains('btn-plus') && Number(li.dataset.quantity) >= MAX_QTY);
    }
    $('clear-cart').disabled = S.busy.has('all') || !S.cart || S.cart.items.length === 0;
  }

  function whoAdded(item) {
    if (item.addUserId !== null && item.addUserId !== undefined && Number(item.addUserId) === userId) return '我';
    if (item.addUserPhone) return maskPhone(item.addUserPhone);
    if (item.addUserId !== null && item.addUserId !== undefined) return '用户 ' + item.addUserId;
    return '同桌';
  }

  function renderCart() {
    const cart = S.cart;
    const ul = $('cart-items');
    ul.replaceChildren();
    for (const item of cart.items) {
      const id = item.cuisineId;
      ul.append(
        el(
          'li',
          { className: 'cart-line', dataset: { cuisineId: String(id), quantity: String(item.quantity) } },
          el(
            'div',
            { className: 'cart-line-main' },
            el('div', { className: 'cart-line-name', text: item.cuisineName == null ? '' : String(item.cuisineName) }),
            el('div', { className: 'cart-line-meta' }, el('span', { className: 'money', text: '¥' + money(item.unitPrice) }), ' · ', el('span', { className: 'cart-line-who', text: whoAdded(item) + ' 点的' })),
            item.remark ? el('div', { className: 'cart-line-remark' }, '备注:', el('span', { className: 'remark-text', text: String(item.remark) })) : null
          ),
          el(
            'div',
            { className: 'cart-line-side' },
            el('div', { className: 'money cart-line-subtotal', text: '¥' + money(item.subtotalAmount) }),
            el(
              'div',
              { className: 'qty-controls' },
              el('button', { type: 'button', className: 'btn btn-round btn-minus', text: '−', 'aria-label': '减少', onclick: () => setQuantity(id, item.quantity - 1) }),
              el('span', { className: 'qty', text: String(item.quantity) }),
              el('button', { type: 'button', className: 'btn btn-round btn-plus', text: '+', 'aria-label': '增加', onclick: () => setQuantity(id, item.quantity + 1) })
            ),
            el('button', { type: 'button', className: 'btn btn-link btn-remove', text: '删除', onclick: () => mutate('remove_item', id) })
          )
        )
      );
    }
    $('cart-empty').hidden = cart.items.length > 0;
    $('total-quantity').textContent = String(cart.totalQuantity ?? 0);
    $('total-amount').textContent = money(cart.totalAmount ?? 0);
    $('bar-quantity').textContent = String(cart.totalQuantity ?? 0);
    $('bar-amount').textContent = money(cart.totalAmount ?? 0);
    refreshControls();
    window.__tablecart.renderedAt = Date.now();
  }

  function setConn(state) {
    S.conn = state;
    const e = $('conn-state');
    e.dataset.state = state;
    e.textContent = STATE_TEXT[state];
    const t = $('transport-label');
    t.textContent = S.transport ? TRANSPORT_NAMES[S.transport] : '';
    t.dataset.transport = S.transport || '';
  }

  function fatal(title, message) {
    stopLive();
    $('loading').hidden = true;
    $('menu').hidden = true;
    $('cart').hidden = true;
    $('bottombar').hidden = true;
    $('fatal-title').textContent = title;
    $('fatal-message').textContent = message;
    $('fatal').hidden = false;
    document.body.classList.add('has-fatal');
  }

  // ---------------------------------------------------------------------------------------
  // live channels. Each opener takes callbacks and returns {close()}; `onConnected` fires on the
  // server's own `connected` message (not on TCP open: a proxy that accepts and drops does not
  // count), `onFail(wasConnected)` once when the channel dies.

  function openSSE({ onConnected, onCart, onFail }) {
    const url = `${API}/store/order/sse/${S.tableId}?${streamQuery()}`;
    const es = new EventSource(url);
    let connected = false;
    let dead = false;
    let firstCart = true;
    let watchdog = null;
    const kick = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => fail(), WATCHDOG_MS);
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
      kick();
      if (!connected) {
        connected = true;
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

  function openWS({ onConnected, onCart, onFail }) {
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
      watchdog = setTimeout(() => fail(), WATCHDOG_MS);
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
      while (waiting.length) waiting.shift().reject(new Error('连接已断开'));
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
            firstCart = true;
            hb = setInterval(() => send({ type: 'heartbeat' }), HEARTBEAT_MS);
            onConnected();
          }
          break;
        case 'cart_update':
          onCart(m.data, { snapshot: firstCart });
          firstCart = false;
          break;
        case 'add_item_success':
        case 'update_quantity_success':
        case 'remove_item_success':
        case 'clear_cart_success': {
          const w = waiting.shift();
          if (w) w.resolve(m.data);
          else onCart(m.data, {});
          break;
        }
        case 'error': {
          const w = waiting.shift();
          if (w) w.reject(new Error(m.message || '操作失败'));
          else toastError(m.message || '操作失败');
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
      command(type, cuisineId, extra) {
        return new Promise((resolve, reject) => {
          const msg = { type };
          if (type === 'add_item') msg.data = { cuisineId, quantity: extra.quantity, remark: extra.remark || null };
          else if (type === 'update_quantity') msg.data = { cuisineId, quantity: extra.quantity };
          else if (type === 'remove_item') msg.data = { cuisineId };
          const w = { resolve, reject };
          const timer = setTimeout(() => {
            const i = waiting.indexOf(w);
            if (i >= 0) waiting.splice(i, 1);
            reject(new Error('服务器没有回应'));
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

  function openPoll({ onConnected, onCart, onFail }) {
    let stopped = false;
    let timer = null;
    let connected = false;
    const tick = async () => {
      if (stopped) return;
      const v = S.cart && typeof S.cart.version === 'number' ? S.cart.version : null;
      try {
        const data = await api('GET', `/store/order/cart/${S.tableId}`, undefined, v !== null ? { 'If-None-Match': `"v${v}"` } : undefined);
        if (stopped) return;
        if (!connected) {
          connected = true;
          onConnected();
        }
        if (!data.notModified) onCart(data, {});
        timer = setTimeout(tick, document.hidden ? POLL_MS * 5 : POLL_MS);
      } catch (e) {
        if (stopped) return;
        stopped = true;
        onFail(connected);
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
      onFail: (wasConnected) => {
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
        setConn('disconnected');
        handleFailure(tag.gen, tag.kind, wasConnected);
      },
    };
  }

  function open(kind, gen) {
    const tag = { kind, gen, handle: null };
    tag.handle = OPENERS[kind](wire(tag));
    return tag;
  }

  function startLive() {
    stopLive();
    const kind = S.order[S.idx];
    S.transport = kind;
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
    if (!wasConnected && kind !== 'poll' && S.idx < S.order.length - 1) {
      // Did the stream fail, or is the whole server gone? Ask with a plain GET (which also
      // brings the cart up to date while we are without a live channel).
      let reachable = false;
      try {
        const cart = await api('GET', `/store/order/cart/${S.tableId}`);
        reachable = true;
        if (gen === generation) applyCart(cart, {});
      } catch (_) {
        /* server down or network gone: not the transport's fault */
      }
      if (gen !== generation) return;
      if (reachable && ++failsHere >= FAILS_BEFORE_FALLBACK) {
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
  // transport toggle

  function chooseTransport(t) {
    if (!['sse', 'ws', 'poll'].includes(t)) t = 'sse';
    S.preferred = t;
    S.order = t === 'ws' ? ['ws', 'sse', 'poll'] : t === 'poll' ? ['poll'] : ['sse', 'ws', 'poll'];
    S.idx = 0;
    attempt = 0;
    failsHere = 0;
    for (const b of document.querySelectorAll('.transport-toggle button')) b.setAttribute('aria-pressed', String(b.dataset.transport === t));
  }

  function onToggle(ev) {
    const b = ev.target.closest('button[data-transport]');
    if (!b || !S.tableId) return;
    const t = b.dataset.transport;
    if (t === S.preferred && S.transport === t) return;
    chooseTransport(t);
    const u = new URL(location.href);
    if (t === 'sse') u.searchParams.delete('transport');
    else u.searchParams.set('transport', t);
    history.replaceState(null, '', u);
    startLive();
  }

  // ---------------------------------------------------------------------------------------
  // start

  async function boot() {
    $('fatal').hidden = true;
    $('loading').hidden = false;
    document.body.classList.remove('has-fatal');
    if (tableParam === null || tableParam === '') {
      fatal('缺少桌号', '请扫描餐桌上的二维码进入点餐页面(网址需要带上 ?table=桌号)。');
      $('fatal-retry').hidden = true;
      return;
    }
    if (!/^[1-9]\d{0,9}$/.test(tableParam) || Number(tableParam) > 2147483647) {
      fatal('桌号无效', `“${tableParam}”不是有效的桌号,请重新扫描餐桌上的二维码。`);
      $('fatal-retry').hidden = true;
      return;
    }
    S.tableId = Number(tableParam);
    $('fatal-retry').hidden = false;
    let menu, cart;
    try {
      [menu, cart] = await Promise.all([api('GET', `/store/order/menu/${S.tableId}`), api('GET', `/store/order/cart/${S.tableId}`)]);
    } catch (e) {
      if (e.status === 404) {
        fatal('找不到这张餐桌', `桌号 ${S.tableId} 不存在,请重新扫描餐桌上的二维码。(${e.message})`);
        $('fatal-retry').hidden = true;
      } else if (e.network) fatal('无法连接服务器', e.message);
      else fatal('服务器出错了', e.message);
      return;
    }
    if (!menu || !menu.table || !Array.isArray(menu.cuisines)) {
      fatal('服务器出错了', '菜单数据不完整,请稍后重试。');
      return;
    }
    S.table = menu.table;
    S.menu = menu.cuisines;
    const tn = menu.table.tableNumber == null ? String(S.tableId) : String(menu.table.tableNumber);
    $('table-number').textContent = tn;
    document.title = `${tn} 桌 · 扫码点餐`;
    $('loading').hidden = true;
    $('menu').hidden = false;
    $('cart').hidden = false;
    $('bottombar').hidden = false;
    renderMenu();
    applyCart(cart, { snapshot: true });
    startLive();
  }

  document.querySelector('.transport-toggle').addEventListener('click', onToggle);
  $('fatal-retry').addEventListener('click', () => boot());
  $('clear-cart').addEventListener('click', () => {
    const d = $('confirm-clear');
    if (typeof d.showModal === 'function') {
      d.returnValue = '';
      d.showModal();
    } else if (window.confirm('确定要清空购物车吗?')) mutate('clear_cart', null);
  });
  $('confirm-clear').addEventListener('close', () => {
    if ($('confirm-clear').returnValue === 'ok') mutate('clear_cart', null);
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
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) wake();
  });
  window.addEventListener('pagehide', () => stopLive());
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted && S.cart) startLive(); // back from the back/forward cache
  });

  chooseTransport((params.get('transport') || 'sse').toLowerCase());
  boot();
})();
