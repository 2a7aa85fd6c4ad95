// The server restarts under the diners' feet: every page shows 已断开, then reconnects by itself
// (jittered back-off) and shows the cart as the database kept it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitConnected, waitCart, dish, openCart, finish } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('restart', pages, browser, server));

test('every page reconnects after a server restart and shows the right cart', async () => {
  const sse = await diner(browser, server, { table: 123 });
  const ws = await diner(browser, server, { table: 123, transport: 'ws' });
  const poll = await diner(browser, server, { table: 123, transport: 'poll' });
  const other = await diner(browser, server, { table: 125 });
  pages.push(sse, ws, poll, other);

  await dish(sse, 1001).getByRole('button', { name: /加入/ }).click();
  await dish(ws, 2001).getByRole('button', { name: /加入/ }).click();
  for (const p of [sse, ws, poll]) await waitCart(p, { 1001: 1, 2001: 1 });
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1004, quantity: 4 });
  await waitCart(other, { 1004: 4 });

  await server.stop();
  // Each page shows 已断开 while it is disconnected, read in the same instant as the state: a
  // page checked later may already be trying again (连接中) by the time its turn comes.
  for (const p of pages) {
    const label = await p.waitForFunction(() => {
      const el = document.getElementById('conn-state');
      return el?.dataset.state === 'disconnected' ? el.textContent : false;
    }, null, { timeout: 15000 });
    assert.equal(await label.jsonValue(), '已断开，正在重连…');
  }

  await server.restart();
  for (const p of pages) await waitConnected(p, 30000);
  for (const p of pages) assert.equal(await p.textContent('#conn-state'), '已同步');
  assert.equal(await sse.evaluate(() => window.__tablecart.transport), 'sse');
  assert.equal(await ws.evaluate(() => window.__tablecart.transport), 'ws');
  for (const p of [sse, ws, poll]) await waitCart(p, { 1001: 1, 2001: 1 });
  await waitCart(other, { 1004: 4 });
  assert.equal(await sse.textContent('#total-amount'), '166.00');

  // the live channels really work again: changes from each transport reach the others
  await openCart(ws);
  await ws.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-plus').click();
  for (const p of [sse, ws, poll]) await waitCart(p, { 1001: 2, 2001: 1 });
  await openCart(sse);
  await sse.locator('#cart-items .cart-line[data-cuisine-id="2001"] .btn-remove').click();
  for (const p of [sse, ws, poll]) await waitCart(p, { 1001: 2 });
  await waitCart(other, { 1004: 4 });
  for (const p of pages) assert.deepEqual(p.errors, []);
});

test('when the server ends an SSE stream (--sse-timeout), the page reconnects and stays live', async () => {
  const short = await new Server({ args: ['--sse-timeout', '1'] }).start();
  try {
    const P = await diner(browser, short, { table: 124 });
    pages.push(P);
    let opened = 0;
    P.on('request', (r) => /\/sse\/124/.test(r.url()) && opened++);
    // the stream ends after a second; the page opens a new one
    await P.waitForRequest(/\/api\/store\/order\/sse\/124/, { timeout: 10000 });
    await waitConnected(P);
    await short.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 1001, quantity: 1 });
    await waitCart(P, { 1001: 1 });
    await P.waitForRequest(/\/api\/store\/order\/sse\/124/, { timeout: 10000 });
    await waitConnected(P);
    await short.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 1001, quantity: 1 });
    await waitCart(P, { 1001: 2 });
    assert.ok(opened >= 2, `reconnected ${opened} times`);
    assert.equal(await P.evaluate(() => window.__tablecart.notices), 2);
    assert.deepEqual(P.errors, []);
  } finally {
    await short.close();
  }
});
