// A change over HTTP that is never answered (lost on a half-open connection) is given up after
// 10 s, reported like the WebSocket's timeout; the dish is tappable again and the notices it held
// are shown. Every change carries its own Idempotency-Key, so a retry of it is applied once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, waitCart, dish, shot } from './harness.mjs';

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

test('an HTTP change with no answer is given up after 10 s; each tap has its own Idempotency-Key', async () => {
  let lose = true;
  const lost = [];
  const keys = [];
  P = await diner(browser, server, {
    table: 123,
    setup: async (page) => {
      await page.clock.install(); // the 10 s are the page's, driven by the test
      page.on('request', (r) => /\/cart\/(add|update|remove|clear)/.test(r.url()) && keys.push(r.headers()['idempotency-key']));
      await page.route('**/api/store/order/cart/add', (route) => (lose ? lost.push(route) : route.continue()));
    },
  });
  // install() alone lets the page's time flow: stop it (a second on, the margin for the round
  // trip to the page), so the 10 s below are counted from the tap by the test alone
  await P.clock.pauseAt(await P.evaluate(() => Date.now() + 1000));
  const plus = dish(P, 1001).locator('.btn-add');
  await plus.click();
  await P.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-add')?.disabled === true);
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

  // the diner taps again: a new change with a new key, answered this time
  lose = false;
  await plus.click();
  await waitCart(P, { 1002: 1, 1001: 1 });
  await dish(P, 1001).locator('.btn-plus').click();
  await waitLine(P, 1001, 2);
  assert.equal(keys.length, 3);
  for (const k of keys) assert.match(k, /^[0-9a-f]{32}$/);
  assert.equal(new Set(keys).size, 3);
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
