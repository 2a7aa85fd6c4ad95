// The seed manual's own plain-JS SSE (§一.3.1) and WebSocket (§二.3.1) clients, unchanged, in
// Chromium against tablecart: they get `connected` and `cart_update`, and the WebSocket one can
// change the cart with the seed's own message shapes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Server, launch, shot, HERE, REPO, LIVE_MS } from './harness.mjs';

const PAGE = readFileSync(path.join(HERE, 'seed-client.html'), 'utf8');
const SEED = [process.env.TABLECART_SEED, path.join(REPO, '../shared/seed/cart-realtime-manual.zh.md')].find((p) => p && existsSync(p));

let server, browser, page;
const logs = [];

before(async () => {
  server = await new Server({ extraWeb: [path.join(HERE, 'seed-client.html')] }).start();
  browser = await launch();
});

after(async () => {
  if (page) await shot(page, 'seed-client');
  await browser?.close();
  await server?.close();
});

function between(text, begin, end) {
  const i = text.indexOf(begin);
  const j = text.indexOf(end, i + begin.length);
  assert.ok(i >= 0 && j > i, `markers ${begin} … ${end}`);
  return text.slice(i + begin.length, j);
}

test('the snippets in seed-client.html are the seed manual\'s, unchanged', { skip: !SEED && 'seed manual not found beside the repo' }, () => {
  const seed = readFileSync(SEED, 'utf8');
  const norm = (s) => s.replace(/\r/g, '').trim();
  const sse = norm(between(PAGE, '// ---- seed §一.3.1 begin ----', '// ---- seed §一.3.1 end ----'));
  const ws = norm(between(PAGE, '// ---- seed §二.3.1 begin ----', '// ---- seed §二.3.1 end ----')).replace('ws://${location.host}/', 'ws://your-domain/');
  assert.ok(norm(between(seed, '3.1 基础使用(原生JavaScript)', '3.2 Vue.js实现示例')) === sse, 'SSE snippet differs from the seed');
  const wsPart = seed.slice(seed.indexOf('3.1 原生JavaScript实现'));
  assert.ok(norm(between(wsPart, '3.1 原生JavaScript实现', '3.2 Vue.js实现示例')) === ws, 'WebSocket snippet differs from the seed');
});

test('the seed\'s SSE and WebSocket clients receive connected and cart_update from tablecart', async () => {
  const context = await browser.newContext();
  page = await context.newPage();
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push('pageerror: ' + e));
  const connected = (prefix) => page.waitForEvent('console', { predicate: (m) => m.text() === prefix + '连接成功', timeout: 10000 });
  const sseUp = connected('SSE连接成功: ');
  const wsUp = connected('连接成功: ');
  await page.goto(server.url + '/seed-client.html');
  await sseUp; // §一: eventSource 'connected' with data 连接成功
  await wsUp; // §二: message {type:'connected', message:'连接成功'}
  assert.ok(logs.includes('WebSocket连接成功'), logs.join('\n'));

  // a change over HTTP reaches both seed clients as cart_update
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1001, quantity: 2, remark: '不要花生' }, { 'X-User-Id': '100', 'X-User-Phone': '13800138000' });
  const has = (kind, pred) =>
    page.waitForFunction(([k, src]) => window.__seed[k].some(new Function('c', 'return ' + src)), [kind, pred], { timeout: LIVE_MS });
  const gongbao2 = "c.items.some(i => i.cuisineId === 1001 && i.quantity === 2)";
  await has('sse', gongbao2);
  await has('ws', gongbao2);
  const cart = await page.evaluate(() => window.__seed.sse.at(-1));
  // the seed §二.4.2 cart shape (numbers as JSON.parse gives them: 38.00 → 38)
  assert.equal(cart.tableId, 123);
  assert.equal(cart.tableNumber, 'A01');
  assert.equal(cart.storeId, 1);
  assert.equal(cart.totalAmount, 76);
  assert.equal(cart.totalQuantity, 2);
  assert.deepEqual(
    Object.fromEntries(Object.entries(cart.items[0]).filter(([k]) => ['cuisineId', 'cuisineName', 'cuisineType', 'unitPrice', 'quantity', 'subtotalAmount', 'addUserId', 'addUserPhone', 'remark'].includes(k))),
    { cuisineId: 1001, cuisineName: '宫保鸡丁', cuisineType: 1, unitPrice: 38, quantity: 2, subtotalAmount: 76, addUserId: 100, addUserPhone: '13800138000', remark: '不要花生' }
  );
  for (const k of ['cuisineImage', 'addUserId', 'addUserPhone', 'remark']) assert.ok(k in cart.items[0], k);

  // the seed's own WebSocket functions change the cart: the sender gets *_success, SSE sees it.
  // The *_success answer and the cart_update broadcast are separate messages: wait for the log line.
  const logged = (text) => page.waitForEvent('console', { predicate: (m) => m.text() === text, timeout: LIVE_MS });
  const added = logged('添加商品成功');
  await page.evaluate(() => addItem(1002, 1, '微辣'));
  await has('ws', "c.items.some(i => i.cuisineId === 1002 && i.quantity === 1 && i.remark === '微辣')");
  await has('sse', "c.items.some(i => i.cuisineId === 1002)");
  await added;
  await page.evaluate(() => updateQuantity(1002, 3));
  await has('sse', "c.items.some(i => i.cuisineId === 1002 && i.quantity === 3)");
  await page.evaluate(() => removeItem(1001));
  await has('sse', "c.items.length === 1 && c.items[0].cuisineId === 1002");
  const pong = page.waitForEvent('console', { predicate: (m) => m.text() === '收到心跳', timeout: LIVE_MS });
  await page.evaluate(() => sendHeartbeat());
  await pong;
  const cleared = logged('清空购物车成功');
  await page.evaluate(() => clearCart());
  await has('sse', 'c.items.length === 0 && c.totalQuantity === 0');
  await has('ws', 'c.items.length === 0');
  await cleared;
  // an invalid message gets an error answer through the seed's showError, socket stays open
  await page.evaluate(() => updateQuantity(1002, 1000));
  await page.waitForFunction(() => window.__seed.errors.length > 0, null, { timeout: LIVE_MS });
  assert.equal(await page.evaluate(() => window.__seed.socket.readyState), 1);
  assert.equal(await page.evaluate(() => window.__seed.reconnects), 0);
  assert.ok(!logs.some((l) => l.startsWith('pageerror')), logs.join('\n'));
});
