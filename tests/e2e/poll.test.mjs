// When neither SSE nor WebSocket gets through (a proxy that blocks them), the page falls back to
// polling the cart with If-None-Match, and still shows other diners' changes within seconds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Server, launch, diner, waitConnected, waitLine, waitCart, lineRemark, dish, openCart, finish } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('poll', pages, browser, server));

/** Blocks the page's SSE and WebSocket for real: the requests fail, HTTP still works. */
async function blockStreams(page) {
  page.blocked = { sse: 0, ws: 0 };
  await page.route('**/api/store/order/sse/**', (route) => {
    page.blocked.sse++;
    return route.abort('connectionrefused');
  });
  await page.routeWebSocket(/\/ws\/cart\//, (ws) => {
    page.blocked.ws++;
    ws.close({ code: 1008, reason: 'blocked by test proxy' });
  });
}

test('SSE and WebSocket blocked → polling with If-None-Match, live updates still arrive', async () => {
  const P = await diner(browser, server, { table: 124, setup: blockStreams, wait: false });
  pages.push(P);
  const statuses = [];
  P.on('response', (r) => {
    if (/\/api\/store\/order\/cart\/124$/.test(r.url()) && r.request().method() === 'GET') statuses.push({ status: r.status(), inm: r.request().headers()['if-none-match'] });
  });
  await P.waitForFunction(() => window.__tablecart.transport === 'poll', null, { timeout: 20000 });
  await waitConnected(P);
  assert.equal(await P.textContent('#conn-state'), '已同步');
  assert.ok(P.blocked.sse >= 1 && P.blocked.ws >= 1, JSON.stringify(P.blocked));

  // another diner changes the cart over HTTP: the polling page shows it with a notice
  await server.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 1002, quantity: 2, remark: '不要葱' });
  await waitLine(P, 1002, 2);
  await P.waitForFunction(() => window.__tablecart.notices >= 1);
  assert.equal(await lineRemark(P, 1002), '不要葱');

  // the page's own change goes over HTTP
  await dish(P, 1001).locator('.btn-add').click();
  await waitCart(P, { 1002: 2, 1001: 1 });
  const cart = await server.api('GET', '/store/order/cart/124');
  assert.equal(cart.data.totalQuantity, 3);

  // unchanged polls are answered 304 to the page's If-None-Match "v{version}"
  const r304 = await P.waitForResponse((r) => /\/cart\/124$/.test(r.url()) && r.status() === 304, { timeout: 5000 });
  assert.equal(r304.request().headers()['if-none-match'], `"v${cart.data.version}"`);
  assert.ok(statuses.some((s) => s.status === 200));
  assert.deepEqual(P.errors, []);
});

test('?transport=poll forces polling; SSE and WS diners at the same table see its changes', async () => {
  const P = await diner(browser, server, { table: 125, transport: 'poll' });
  const S = await diner(browser, server, { table: 125 });
  const W = await diner(browser, server, { table: 125, transport: 'ws' });
  pages.push(P, S, W);
  assert.equal(await P.evaluate(() => window.__tablecart.transport), 'poll');
  await dish(P, 2001).locator('.btn-add').click();
  await waitLine(S, 2001, 1);
  await waitLine(W, 2001, 1);
  await openCart(W);
  await W.locator('#cart-items .cart-line[data-cuisine-id="2001"] .btn-plus').click();
  await waitLine(P, 2001, 2);
  await waitLine(S, 2001, 2);
});

test('once streams get through again, a polling page goes back to SSE by itself', async () => {
  let blocked = true;
  const P = await diner(browser, server, {
    table: 123,
    wait: false,
    setup: async (page) => {
      await page.clock.install(); // back-off and the 30–90 s upgrade timer under the test's control
      await page.route('**/api/store/order/sse/**', (route) => (blocked ? route.abort('connectionrefused') : route.continue()));
      await page.routeWebSocket(/\/ws\/cart\//, (ws) => (blocked ? ws.close({ code: 1008 }) : ws.connectToServer()));
    },
  });
  pages.push(P);
  const transport = () => P.evaluate(() => window.__tablecart.transport);
  // drive the page's clock through its back-off until it settles on polling
  for (let i = 0; i < 60 && (await transport()) !== 'poll'; i++) await P.clock.runFor(1000);
  assert.equal(await transport(), 'poll');
  await waitConnected(P);

  blocked = false;
  for (let i = 0; i < 100 && (await transport()) !== 'sse'; i++) await P.clock.runFor(1000);
  assert.equal(await transport(), 'sse');
  await waitConnected(P);
  assert.equal(await P.textContent('#conn-state'), '已同步');
  // and it is live: a change by someone else arrives over the stream
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1003, quantity: 1 });
  await waitLine(P, 1003, 1);
  assert.deepEqual(P.errors, []);
});

test('a polling page takes the server word when the version goes down (restart on a new database)', async () => {
  const fresh = await new Server().start();
  try {
    const P = await diner(browser, fresh, { table: 123, transport: 'poll' });
    pages.push(P);
    for (const id of [1001, 1002, 1003]) await dish(P, id).locator('.btn-add').click();
    await waitCart(P, { 1001: 1, 1002: 1, 1003: 1 });
    assert.equal(await P.evaluate(() => window.__tablecart.version), 3);

    // the server comes back on the same port with an empty database: the cart is version 0
    await fresh.stop();
    for (const f of ['', '-wal', '-shm']) rmSync(fresh.db + f, { force: true });
    await fresh.restart();
    await waitCart(P, {}, 15000);
    assert.equal(await P.evaluate(() => window.__tablecart.version), 0);
    assert.equal(await P.textContent('#bar-quantity'), '0');

    // another diner's change and the page's own tap both show
    await fresh.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1004, quantity: 1 });
    await waitCart(P, { 1004: 1 });
    await dish(P, 1002).locator('.btn-add').click();
    await waitCart(P, { 1004: 1, 1002: 1 });
    assert.equal(await P.evaluate(() => window.__tablecart.version), 2);
    const cart = await fresh.api('GET', '/store/order/cart/123');
    assert.deepEqual(cart.data.items.map((i) => [i.cuisineId, i.quantity]), [[1004, 1], [1002, 1]]);
    assert.deepEqual(P.errors, []);
  } finally {
    await fresh.close();
  }
});

test('a page that falls back to polling shows no count and no name (it has no presence)', async () => {
  let blocked = false;
  const own = await new Server().start(); // restarted below: its own server
  try {
    const P = await diner(browser, own, {
      table: 125,
      setup: async (page) => {
        await page.route('**/api/store/order/sse/**', (route) => (blocked ? route.abort('connectionrefused') : route.continue()));
        await page.routeWebSocket(/\/ws\/cart\//, (ws) => (blocked ? ws.close({ code: 1008 }) : ws.connectToServer()));
      },
    });
    const Q = await diner(browser, own, { table: 125 });
    pages.push(P, Q);
    await P.waitForFunction(() => document.getElementById('presence').dataset.online === '2', null, { timeout: 3000 });
    assert.equal(await P.textContent('#presence'), '2 人在点餐');
    assert.equal(await P.isVisible('#my-name'), true);

    // a proxy starts blocking streams and the server restarts: P ends up polling
    blocked = true;
    await own.restart();
    await P.waitForFunction(() => window.__tablecart.transport === 'poll' && window.__tablecart.state === 'connected', null, { timeout: 60000 });
    assert.equal(await P.isHidden('#presence'), true);
    assert.equal(await P.isHidden('#my-name'), true);
    assert.equal(await P.evaluate(() => window.__tablecart.presence), null);
    // still live: Q's change shows
    await waitConnected(Q, 30000);
    await dish(Q, 1003).locator('.btn-add, .btn-plus').click();
    await P.waitForFunction(() => document.querySelector('#cart-items .cart-line[data-cuisine-id="1003"]') !== null);
    assert.equal(await P.isHidden('#presence'), true);
    assert.deepEqual(P.errors, []);
  } finally {
    await own.close();
  }
});

test('a polling page whose own change is answered past another diner\'s change it never polled gets 购物车已更新', async () => {
  const P = await diner(browser, server, { table: 123, transport: 'poll', setup: (page) => page.clock.install() });
  pages.push(P);
  await P.clock.pauseAt(await P.evaluate(() => Date.now() + 500)); // no poll runs until the test says
  const shown = await P.evaluate(() => window.__tablecart.version);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), 0);
  // another diner adds 1004 (a version the page never sees), then the diner taps + on 1001: its
  // answer is two versions on
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1004, quantity: 2 });
  await dish(P, 1001).locator('.btn-add').click();
  await waitLine(P, 1004, 2);
  await waitLine(P, 1001, 1);
  assert.equal(await P.evaluate(() => window.__tablecart.version), shown + 2);
  await P.waitForFunction(() => window.__tablecart.notices === 1, null, { timeout: 3000 });
  assert.equal(await P.isVisible('#notice'), true);
  assert.deepEqual(P.errors, []);
});
