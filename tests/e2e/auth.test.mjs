// --auth jwt: a token the server refuses (401 expired or bad, 403 for another table) ends the page
// with the server's own words and no 重试 button; it never reconnects forever behind an old cart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, dish, finish } from './harness.mjs';

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
  // Each page records that it was live (an observer set up before its scripts run), so that
  // the test never has to catch the short live window by polling. The pages must be live
  // before the token runs out: a machine too slow to open three pages within the token's
  // life (a loaded one took 1.8 s a page, and 6 s for one under a busy loop) starts again with
  // a token twice as long.
  const recordLive = (page) => page.addInitScript(() => {
    new MutationObserver(() => {
      if (document.getElementById('conn-state')?.dataset.state === 'connected') window.__wasLive = true;
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });
  let opened;
  for (let ttl = 8; ; ttl *= 2) {
    const t = server.token('--user', '101', '--table', '123', '--ttl', String(ttl));
    opened = await Promise.all(['sse', 'ws', 'poll'].map((transport) => diner(browser, server, { table: 123, transport, query: '&token=' + t, wait: false, setup: recordLive })));
    const fatal = await Promise.all(opened.map((P) => fatalOf(P, (ttl + 15) * 1000)));
    const live = await Promise.all(opened.map((P) => P.evaluate(() => window.__wasLive === true)));
    if (live.every(Boolean)) {
      for (const f of fatal) assert.deepEqual(f, { title: '登录已失效', message: '登录已过期，请重新扫码', retry: false, menu: false });
      break;
    }
    assert.ok(ttl < 64, 'the pages were not live within a 64 s token');
    for (const P of opened) await P.close();
  }
  for (const P of opened) {
    pages.push(P);
    assert.equal(await P.evaluate(() => window.__tablecart.state), 'disconnected');
  }
  // stopped for good: a wake-up (back to the tab, network back) opens nothing
  for (const P of opened) {
    P.requests = 0;
    P.on('request', (r) => /\/api\/|\/ws\//.test(r.url()) && P.requests++);
    await P.evaluate(() => window.dispatchEvent(new Event('online')));
    await P.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    assert.equal(P.requests, 0);
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
