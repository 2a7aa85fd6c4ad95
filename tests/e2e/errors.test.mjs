// No table, a bad table, an unknown table, an unreachable API: always a clear message, never a
// blank page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, shot } from './harness.mjs';

let server, browser, context;

before(async () => {
  server = await new Server().start();
  browser = await launch();
  context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  context.setDefaultTimeout(10000);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function fatalOf(query, name, setup) {
  const page = await context.newPage();
  if (setup) await setup(page);
  await page.goto(server.url + '/' + query);
  await page.waitForSelector('#fatal:not([hidden])');
  await shot(page, 'error-' + name);
  const r = { title: await page.textContent('#fatal-title'), message: await page.textContent('#fatal-message'), menu: await page.isVisible('#menu') };
  await page.close();
  return r;
}

test('no table in the address', async () => {
  const r = await fatalOf('', 'no-table');
  assert.equal(r.title, '缺少桌号');
  assert.match(r.message, /二维码/);
  assert.equal(r.menu, false);
});

test('a table id that is not a number', async () => {
  const r = await fatalOf('?table=abc%3Cb%3E', 'bad-table');
  assert.equal(r.title, '桌号无效');
  assert.match(r.message, /abc<b>/); // shown literally
});

test('a table the server does not know → 404 message from the server', async () => {
  const r = await fatalOf('?table=999999', 'unknown-table');
  assert.equal(r.title, '找不到这张餐桌');
  assert.match(r.message, /999999/);
});

test('the API cannot be reached', async () => {
  const r = await fatalOf('?table=123', 'unreachable', (page) =>
    page.route('**/api/store/order/menu/**', (route) => route.abort('connectionrefused'))
  );
  assert.equal(r.title, '无法连接服务器');
});

test('the server answers an error envelope', async () => {
  // a real error answer of the server (405 for a method it does not take), served for the menu
  const res = await fetch(server.url + '/api/store/order/cart/clear', { method: 'PATCH' });
  const body = await res.text();
  assert.ok(res.status >= 400, `PATCH answered ${res.status}`);
  const r = await fatalOf('?table=123', 'server-error', (page) =>
    page.route('**/api/store/order/menu/**', (route) => route.fulfill({ status: res.status, contentType: 'application/json', body }))
  );
  assert.equal(r.title, '服务器出错了');
  assert.equal(r.message, JSON.parse(body).message);
});
