// --auth jwt: a token the server refuses (401 expired or bad, 403 for another table) ends the page
// with the server's own words and no 重试 button; it never reconnects forever behind an old cart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitConnected, dish, finish } from './harness.mjs';

const SECRET = 'e2e-secret-0123456789abcdefghijklmnopqrstuvwxyz';
let server, browser;
const pages = [];

before(async () => {
  server = await new Server({ auth: 'jwt', env: { TABLECART_JWT_SECRET: SECRET } }).start();
  browser = await launch();
});

after(() => finish('auth', pages, browser, server));

/** The page's full-page message, once it is shown. */
async function fatalOf(page, timeout = 15000) {
  await page.waitForSelector('#fatal:not([hidden])', { timeout });
  return {
    title: await page.textContent('#fatal-title'),
    message: await page.textContent('#fatal-message'),
    retry: await page.isVisible('#fatal-retry'),
    menu: await page.isVisible('#menu'),
  };
}

test('a bad token: the server says why, full page, no retry button', async () => {
  const P = await diner(browser, server, { table: 123, query: '&token=abc.def.ghi', wait: false });
  pages.push(P);
  assert.deepEqual(await fatalOf(P), { title: '登录已失效', message: '登录已失效，请重新扫码', retry: false, menu: false });
});

test('a token for another table: 403 in the server words, no retry button', async () => {
  const t = server.token('--user', '100', '--table', '124');
  const P = await diner(browser, server, { table: 123, query: '&token=' + t, wait: false });
  pages.push(P);
  assert.deepEqual(await fatalOf(P), { title: '不能在这张桌点餐', message: '您的登录不能用于这张桌', retry: false, menu: false });
});

test('the token expires while the page is open (SSE, WebSocket, polling): it stops and says so', async () => {
  // 8 s: the three pages open at once (one after the other, a loaded machine took 1.8 s each,
  // and the last one met the token already expired)
  const t = server.token('--user', '101', '--table', '123', '--ttl', '8');
  const opened = await Promise.all(['sse', 'ws', 'poll'].map((transport) => diner(browser, server, { table: 123, transport, query: '&token=' + t, wait: false })));
  for (const P of opened) {
    P.requests = 0;
    P.on('request', (r) => /\/api\/|\/ws\//.test(r.url()) && P.requests++);
    pages.push(P);
  }
  // live before the token runs out
  for (const P of opened) await waitConnected(P, 6000);
  for (const P of opened) {
    assert.deepEqual(await fatalOf(P), { title: '登录已失效', message: '登录已过期，请重新扫码', retry: false, menu: false });
    assert.equal(await P.evaluate(() => window.__tablecart.state), 'disconnected');
  }
  // stopped for good: a wake-up (back to the tab, network back) opens nothing
  for (const P of opened) {
    const before = P.requests;
    await P.evaluate(() => window.dispatchEvent(new Event('online')));
    await P.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.equal(P.requests, before);
    assert.deepEqual(P.errors, []);
  }
});

test('a change refused with 403 ends the page too, in the server words', async () => {
  const t = server.token('--user', '102', '--table', '123');
  // the server's real answer to a token of another table
  const other = server.token('--user', '102', '--table', '124');
  const res = await fetch(server.url + '/api/store/order/cart/add', {
    method: 'POST',
    headers: { Authorization: 'Bearer ' + other, 'Content-Type': 'application/json' },
    body: JSON.stringify({ tableId: 123, cuisineId: 1001, quantity: 1 }),
  });
  assert.equal(res.status, 403);
  const body = await res.text();
  const P = await diner(browser, server, {
    table: 123,
    query: '&token=' + t,
    setup: (page) => page.route('**/api/store/order/cart/add', (route) => route.fulfill({ status: 403, contentType: 'application/json', body })),
  });
  pages.push(P);
  await dish(P, 1001).locator('.btn-add').click();
  assert.deepEqual(await fatalOf(P), { title: '不能在这张桌点餐', message: '您的登录不能用于这张桌', retry: false, menu: false });
  assert.equal(await P.isHidden('#toast-error'), true);
});
