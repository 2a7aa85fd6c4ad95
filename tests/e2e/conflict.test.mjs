// − and 删除 are computed from the cart the page shows: they go out with If-Match "v{shown}", so a
// diner whose view is behind never takes away portions another diner added meanwhile (409: the
// tap is not applied, the page shows the cart as it is and says so).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, dish, openCart, finish } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('conflict', pages, browser, server));

/** Records the page's cart changes over HTTP: method, path, If-Match. */
function recordChanges(page) {
  page.changes = [];
  page.on('request', (r) => {
    if (/\/cart\/(add|update|remove|clear)/.test(r.url())) page.changes.push({ method: r.method(), path: new URL(r.url()).pathname, ifMatch: r.headers()['if-match'] ?? null });
  });
}

const shares = async (table, id) => {
  const cart = (await server.api('GET', `/store/order/cart/${table}`)).data;
  const line = cart.items.find((i) => i.cuisineId === id);
  return line ? line.shares.map((s) => [s.userId, s.quantity]) : null;
};

test('a polling page behind the cart taps − at 1: 409, the other diner portions stay, the page says so', async () => {
  // A polls, but its clock stands still once it is open: no poll brings it B's changes
  const A = await diner(browser, server, {
    table: 124,
    transport: 'poll',
    setup: async (page) => {
      await page.clock.install();
      recordChanges(page);
    },
  });
  const B = await diner(browser, server, { table: 124 });
  pages.push(A, B);
  // install() alone lets the page's time flow (a poll a second): stop it, a second on (a poll
  // then may run: B has changed nothing yet; the margin is for the round trip to the page)
  await A.clock.pauseAt(await A.evaluate(() => Date.now() + 1000));
  const aId = await A.evaluate(() => window.__tablecart.userId);
  const bId = await B.evaluate(() => window.__tablecart.userId);
  await dish(A, 1001).locator('.btn-add').click();
  await waitLine(A, 1001, 1);
  await waitLine(B, 1001, 1);
  // B adds two portions; A, not polling, still shows 1 at version 1
  await dish(B, 1001).locator('.btn-plus').click();
  await waitLine(B, 1001, 2);
  await dish(B, 1001).locator('.btn-plus').click();
  await waitLine(B, 1001, 3);
  assert.equal(await A.evaluate(() => window.__tablecart.version), 1);
  assert.equal(await dish(A, 1001).locator('.qty').textContent(), '1');

  // A takes "its" portion back: at 1 that is 删除 of the line, conditional on version 1
  const answer = A.waitForResponse((r) => r.url().includes('/cart/remove'));
  await dish(A, 1001).locator('.btn-minus').click();
  assert.equal((await answer).status(), 409);
  await waitLine(A, 1001, 3); // the cart as it is, asked for at once
  assert.equal(await A.textContent('#toast-error'), '购物车已被他人更新，请再试一次。');
  assert.equal(await A.isVisible('#toast-error'), true);
  assert.deepEqual(A.changes.at(-1), { method: 'DELETE', path: '/api/store/order/cart/remove', ifMatch: '"v1"' });
  assert.deepEqual(await shares(124, 1001), [[aId, 1], [bId, 2]]);
  await waitLine(B, 1001, 3);

  // tapped again, now from the current cart: A's own portion goes
  await dish(A, 1001).locator('.btn-minus').click();
  await waitLine(A, 1001, 2);
  assert.deepEqual(A.changes.at(-1), { method: 'PUT', path: '/api/store/order/cart/update', ifMatch: '"v3"' });
  assert.deepEqual(await shares(124, 1001), [[bId, 2]]);
  await waitLine(B, 1001, 2);
  assert.deepEqual(A.errors, []);
});

test('WebSocket mode: − and 删除 go over HTTP with If-Match; behind the cart they are refused', async () => {
  let hold = false; // while true, the proxy keeps cart_update pushes from A's socket
  const A = await diner(browser, server, {
    table: 125,
    transport: 'ws',
    setup: async (page) => {
      recordChanges(page);
      page.sent = [];
      await page.routeWebSocket(/\/ws\/cart\//, (ws) => {
        const srv = ws.connectToServer();
        ws.onMessage((m) => {
          page.sent.push(JSON.parse(String(m)));
          srv.send(m);
        });
        srv.onMessage((m) => {
          if (hold && JSON.parse(String(m)).type === 'cart_update') return;
          ws.send(m);
        });
      });
    },
  });
  const B = await diner(browser, server, { table: 125 });
  pages.push(A, B);
  const aId = await A.evaluate(() => window.__tablecart.userId);
  const bId = await B.evaluate(() => window.__tablecart.userId);
  // A adds two portions of 1001 and one of 1002 over the socket
  for (const [id, q] of [[1001, 1], [1001, 2], [1002, 1]]) {
    await dish(A, id).locator('.btn-add, .btn-plus').click();
    await waitLine(A, id, q);
  }
  assert.deepEqual(A.sent.filter((m) => m.type === 'add_item').length, 3);
  await waitLine(B, 1002, 1);

  hold = true;
  await dish(B, 1001).locator('.btn-plus').click(); // 1001: A 2, B 1
  await waitLine(B, 1001, 3);
  await dish(B, 1002).locator('.btn-plus').click(); // 1002: A 1, B 1
  await waitLine(B, 1002, 2);
  assert.equal(await A.evaluate(() => window.__tablecart.version), 3);

  // A, at version 3 on screen, takes 1001 down to 1 in the drawer
  await openCart(A);
  await A.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-minus').click();
  await waitLine(A, 1001, 3);
  assert.equal(await A.textContent('#toast-error'), '购物车已被他人更新，请再试一次。');
  assert.deepEqual(A.changes.at(-1), { method: 'PUT', path: '/api/store/order/cart/update', ifMatch: '"v3"' });
  assert.deepEqual(await shares(125, 1001), [[aId, 2], [bId, 1]]);

  // B changes 1002 again; A, behind once more, taps 删除 on it: refused too
  await dish(B, 1002).locator('.btn-plus').click();
  await waitLine(B, 1002, 3);
  await A.locator('#cart-items .cart-line[data-cuisine-id="1002"] .btn-remove').click();
  await waitLine(A, 1002, 3);
  assert.deepEqual(A.changes.at(-1), { method: 'DELETE', path: '/api/store/order/cart/remove', ifMatch: '"v5"' });
  assert.deepEqual(await shares(125, 1002), [[aId, 1], [bId, 2]]);
  assert.equal(await A.textContent('#toast-error'), '购物车已被他人更新，请再试一次。');

  // from the current cart, − works (and never went over the socket)
  await A.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-minus').click();
  await waitLine(A, 1001, 2);
  assert.deepEqual(await shares(125, 1001), [[aId, 1], [bId, 1]]);
  assert.deepEqual(A.sent.filter((m) => m.type === 'update_quantity' || m.type === 'remove_item'), []);
  assert.deepEqual(A.errors, []);
});

test('a − tapped while the diner\'s own + on another dish is on its way waits for it and is not refused', async () => {
  await server.api('DELETE', '/store/order/cart/clear?tableId=123');
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1001, quantity: 2 }, { 'X-User-Id': '555' });
  let release;
  const held = new Promise((resolve) => (release = resolve));
  let applied;
  const addApplied = new Promise((resolve) => (applied = resolve));
  const A = await diner(browser, server, {
    table: 123,
    transport: 'poll', // with its clock stopped: nothing but the answers brings a newer cart
    setup: async (page) => {
      await page.clock.install();
      recordChanges(page);
      await page.route('**/api/store/order/cart/add', async (route) => {
        const res = await route.fetch(); // applied by the server; its answer waits for the test
        applied();
        await held;
        await route.fulfill({ response: res });
      });
    },
  });
  pages.push(A);
  await waitLine(A, 1001, 2);
  await A.clock.pauseAt(await A.evaluate(() => Date.now() + 500));
  const shown = await A.evaluate(() => window.__tablecart.version);
  await dish(A, 1002).locator('.btn-add').click();
  await addApplied;
  await dish(A, 1001).locator('.btn-minus').click(); // the add's answer (version shown + 1) not in yet
  release();
  await waitLine(A, 1002, 1);
  await waitLine(A, 1001, 1);
  const update = A.changes.find((c) => c.path.endsWith('/cart/update'));
  assert.equal(update.ifMatch, `"v${shown + 1}"`);
  assert.equal(await A.isHidden('#toast-error'), true);
  assert.equal(await A.evaluate(() => window.__tablecart.notices), 0);
  assert.deepEqual(A.errors, []);
});
