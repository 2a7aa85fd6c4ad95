// A change over HTTP that is never answered (lost on a half-open connection) is given up after
// 10 s, reported like the WebSocket's timeout; the dish is tappable again and the notices it held
// are shown. Every change carries its own Idempotency-Key (the retry of one given up, its key), so
// a retry of it is applied once (retry.test.mjs).
// A WebSocket command with no reply in 10 s gives up on the socket: closed and opened again, so
// no late reply on it is ever taken for the next command's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitConnected, waitLine, waitCart, dish, shot } from './harness.mjs';

let server, browser, P;

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(async () => {
  if (P) await shot(P, 'timeout');
  await browser?.close();
  await server?.close();
});

test('an HTTP change with no answer is given up after 10 s; each tap has its own Idempotency-Key, its retry the same', async () => {
  let lose = true;
  const lost = [];
  const keys = [];
  let arrived; // the add held: the browser may hand it to the route after the tap's effects show
  const held = new Promise((resolve) => (arrived = resolve));
  P = await diner(browser, server, {
    table: 123,
    setup: async (page) => {
      await page.clock.install(); // the 10 s are the page's, driven by the test
      page.on('request', (r) => /\/cart\/(add|update|remove|clear)/.test(r.url()) && keys.push(r.headers()['idempotency-key']));
      await page.route('**/api/store/order/cart/add', (route) => (lose ? (lost.push(route), arrived()) : route.continue()));
    },
  });
  // install() alone lets the page's time flow: stop it (a second on, the margin for the round
  // trip to the page), so the 10 s below are counted from the tap by the test alone
  await P.clock.pauseAt(await P.evaluate(() => Date.now() + 1000));
  const plus = dish(P, 1001).locator('.btn-add');
  await plus.click();
  await P.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-add')?.disabled === true);
  await held;
  assert.equal(lost.length, 1);
  // somebody else's change arrives while ours is in flight: shown, its notice held
  const notices = await P.evaluate(() => window.__tablecart.notices);
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1002, quantity: 1 });
  await waitLine(P, 1002, 1);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), notices);

  await P.clock.runFor(9000);
  assert.equal(await P.isHidden('#toast-error'), true);
  await P.clock.runFor(1000);
  await P.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await P.textContent('#toast-error'), '服务器没有回应，请重试。');
  await P.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-add')?.disabled === false);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), notices + 1);
  assert.equal(await P.textContent('#notice'), '购物车已更新');

  // the diner taps again: the retry of the change given up, with its key (the server never saw
  // it: applied now); the tap after that is a new change with a new key
  lose = false;
  await plus.click();
  await waitCart(P, { 1002: 1, 1001: 1 });
  await dish(P, 1001).locator('.btn-plus').click();
  await waitLine(P, 1001, 2);
  assert.equal(keys.length, 3);
  for (const k of keys) assert.match(k, /^[0-9a-f]{32}$/);
  assert.equal(keys[1], keys[0]);
  assert.equal(new Set(keys).size, 2);
  assert.deepEqual(P.errors, []);
});

test('an Idempotency-Key the page sent is applied once when the same change comes again', async () => {
  const Q = await diner(browser, server, { table: 124 });
  const sent = Q.waitForRequest((r) => r.url().includes('/cart/add'));
  await dish(Q, 1003).locator('.btn-add').click();
  await waitLine(Q, 1003, 1);
  const req = await sent;
  // the same request again, as a retry of that tap would send it: replayed, not added twice
  const h = req.headers();
  const again = await server.api('POST', '/store/order/cart/add', req.postDataJSON(), { 'X-User-Id': h['x-user-id'], 'Idempotency-Key': h['idempotency-key'] });
  assert.equal(again.data.items[0].quantity, 1);
  assert.equal((await server.api('GET', '/store/order/cart/124')).data.totalQuantity, 1);
  await Q.context().close();
});

test('a WebSocket command with no reply in 10 s closes the socket; a late reply is never taken for the next tap', async () => {
  let swallow = true; // while true, the proxy keeps the server's replies (*_success, error) from the page
  const held = []; // [socket, route, message] of the replies kept
  const sockets = []; // one {sent, closed} per socket the page opens
  let replyKept;
  const kept = new Promise((resolve) => (replyKept = resolve));
  const A = await diner(browser, server, {
    table: 125,
    transport: 'ws',
    setup: async (page) => {
      await page.clock.install();
      await page.routeWebSocket(/\/ws\/cart\//, (ws) => {
        const s = { sent: [], closed: false };
        sockets.push(s);
        const srv = ws.connectToServer();
        ws.onMessage((m) => {
          const msg = JSON.parse(String(m));
          s.sent.push(msg.type);
          // a command goes out: whatever reply was kept comes now, late, on the socket it was for
          // (a socket the page has closed takes nothing more)
          if (msg.type !== 'heartbeat')
            while (held.length) {
              const [hs, hr, hm] = held.shift();
              if (!hs.closed) hr.send(hm);
            }
          srv.send(m);
        });
        srv.onMessage((m) => {
          const type = JSON.parse(String(m)).type;
          if (swallow && (type.endsWith('_success') || type === 'error')) {
            held.push([s, ws, m]);
            replyKept();
          } else ws.send(m);
        });
        ws.onClose(() => {
          s.closed = true;
          srv.close();
        });
      });
    },
  });
  await A.clock.pauseAt(await A.evaluate(() => Date.now() + 1000));
  const notices = await A.evaluate(() => window.__tablecart.notices);

  // the server takes the add and replies; the reply does not reach the page
  await dish(A, 1001).locator('.btn-add').click();
  await A.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-add')?.disabled === true);
  await kept;
  assert.deepEqual(sockets.map((s) => s.sent), [['add_item']]);
  await A.clock.runFor(9000);
  assert.equal(await A.isHidden('#toast-error'), true);
  assert.equal(sockets[0].closed, false);
  await A.clock.runFor(1000);
  await A.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await A.textContent('#toast-error'), '服务器没有回应，请重试。');

  // the socket is taken as dead: closed, the cart read again (the add was applied), a new socket
  await A.waitForFunction(() => document.getElementById('conn-state').dataset.state === 'disconnected');
  await waitLine(A, 1001, 1);
  assert.equal(held.length, 1);
  await A.clock.runFor(500); // the first reconnect's back-off: 0.25 to 0.5 s
  await waitConnected(A);
  assert.equal(sockets.length, 2);
  assert.equal(sockets[0].closed, true);
  assert.equal(sockets[1].closed, false);
  assert.equal(await A.textContent('#toast-error'), '服务器没有回应，请重试。');
  // the add it never heard back about is the cart read again: the diner's own, no 购物车已更新
  assert.equal(await A.evaluate(() => window.__tablecart.notices), notices);

  // the next tap goes over the new socket; the late reply is let go first (the closed socket takes
  // nothing): the tap gets its own reply, and the page takes nothing for somebody else's change
  swallow = false;
  await dish(A, 1002).locator('.btn-add').click();
  await waitCart(A, { 1001: 1, 1002: 1 });
  await A.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1002"] .btn-plus')?.disabled === false);
  assert.equal(held.length, 0);
  assert.deepEqual(sockets.map((s) => s.sent), [['add_item'], ['add_item']]);
  assert.equal(await A.evaluate(() => window.__tablecart.version), 2);
  assert.equal(await A.evaluate(() => window.__tablecart.notices), notices);
  assert.equal(await A.textContent('#toast-error'), '服务器没有回应，请重试。');
  assert.deepEqual((await server.api('GET', '/store/order/cart/125')).data.items.map((i) => [i.cuisineId, i.quantity]), [[1001, 1], [1002, 1]]);
  assert.deepEqual(A.errors, []);
  await A.context().close();
});
