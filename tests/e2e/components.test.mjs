// The seed manual's Vue and React components (components/: §一 SSE 3.2 Vue, §一 SSE 3.3 React,
// §二 WebSocket 3.2 Vue), copied unchanged but for the WebSocket host, built once per run with
// Vite from the committed lockfile, mounted in Chromium against the real server: each gets
// `connected` and `cart_update` and shows the cart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Server, launch, HERE, REPO, LIVE_MS, finish } from './harness.mjs';
import { buildComponents } from './components/build.mjs';

const SEED = [process.env.TABLECART_SEED, path.join(REPO, '../shared/seed/cart-realtime-manual.zh.md')].find((p) => p && existsSync(p));
let server, browser, out;
const pages = [];

before(async () => {
  out = mkdtempSync(path.join(tmpdir(), 'tablecart-components-'));
  await buildComponents(path.join(out, 'components'));
  server = await new Server({ extraWeb: [path.join(out, 'components')] }).start();
  browser = await launch();
});

after(async () => {
  await finish('component', pages, browser, server);
  if (out) rmSync(out, { recursive: true, force: true });
});

function between(text, begin, end, from = 0) {
  const i = text.indexOf(begin, from);
  const j = text.indexOf(end, i + begin.length);
  assert.ok(i >= 0 && j > i, `markers ${begin} … ${end}`);
  return text.slice(i + begin.length, j);
}

/** A fixture's text without the leading comment that names its manual section. */
function fixture(name) {
  const text = readFileSync(path.join(HERE, 'components', name), 'utf8');
  return name.endsWith('.vue') ? text.replace(/^<!--[\s\S]*?-->\n/, '') : text.replace(/^(\/\/.*\n)+/, '');
}

test('the components are the seed manual\'s, unchanged (but for the WebSocket host)', { skip: !SEED && 'seed manual not found beside the repo' }, () => {
  const seed = readFileSync(SEED, 'utf8');
  const norm = (s) => s.replace(/\r/g, '').trim();
  assert.equal(norm(fixture('SseCart.vue')), norm(between(seed, '3.2 Vue.js实现示例', '3.3 React实现示例')));
  assert.equal(norm(fixture('SseCart.jsx')), norm(between(seed, '3.3 React实现示例', '3.4 微信小程序实现示例')));
  const ws = seed.indexOf('3.1 原生JavaScript实现');
  const vue = norm(fixture('WsCart.vue'));
  assert.equal(vue.split('ws://${location.host}/').length, 2, 'one host edit');
  assert.equal(vue.replace('ws://${location.host}/', 'ws://your-domain/'), norm(between(seed, '3.2 Vue.js实现示例', '4. 消息格式说明', ws)));
});

/** Opens one built component page; its console and errors are kept on the page. */
async function mount(name) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' });
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
  const page = await context.newPage();
  pages.push(page);
  page.logs = [];
  page.on('console', (m) => page.logs.push(m.text()));
  page.on('pageerror', (e) => page.logs.push('pageerror: ' + e));
  page.frames = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => page.frames.push(JSON.parse(String(f.payload)))));
  const sse = [];
  page.on('response', (r) => r.url().includes('/api/store/order/sse/') && sse.push(r));
  await page.goto(`${server.url}/components/${name}.html`);
  page.sse = sse;
  return page;
}

const add = (cuisineId, quantity) => server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId, quantity });
const clear = () => server.api('DELETE', '/store/order/cart/clear?tableId=123');

/** An empty cart, the component mounted and showing 已连接 (its own words for `connected`). */
async function connected(name) {
  await clear();
  const page = await mount(name);
  await page.getByText('已连接', { exact: true }).waitFor();
  return page;
}

const noErrors = (page) => assert.ok(!page.logs.some((l) => l.startsWith('pageerror')), page.logs.join('\n'));

test('§一 3.2 (Vue, SSE): connected, then cart_update shows the cart', async () => {
  const page = await connected('vue-sse');
  assert.ok(page.logs.includes('SSE连接成功'), page.logs.join('\n'));
  await add(1001, 2);
  await page.getByText('宫保鸡丁 x 2').waitFor({ timeout: LIVE_MS });
  // cart_update went through the component's handler: its $message stand-in said so
  await page.waitForFunction(() => window.__comp.messages.some((m) => m.kind === 'success' && m.text === '购物车已更新'));
  await add(1004, 3);
  await page.getByText('米饭 x 3').waitFor({ timeout: LIVE_MS });
  noErrors(page);
});

test('§一 3.3 (React, SSE): connected, then cart_update shows the cart and the total', async () => {
  const page = await connected('react-sse');
  assert.ok(page.logs.includes('SSE连接成功'), page.logs.join('\n'));
  await add(1002, 1);
  await page.getByText('鱼香肉丝 x 1').waitFor({ timeout: LIVE_MS });
  await page.getByText('总金额: 32').waitFor();
  await add(1003, 2);
  await page.getByText('麻婆豆腐 x 2').waitFor({ timeout: LIVE_MS });
  await page.getByText('总金额: 77').waitFor(); // 32.00 + 2 × 22.50
  assert.ok(page.logs.includes('购物车已更新'));
  noErrors(page);
});

test('§二 3.2 (Vue, WebSocket): connected, cart_update, its own buttons change the cart', async () => {
  const page = await connected('vue-ws');
  await page.waitForFunction(() => window.__comp.messages.some((m) => m.kind === 'success' && m.text === '连接成功'));
  assert.ok(page.frames.some((m) => m.type === 'connected' && m.message === '连接成功'));
  await add(1001, 1);
  await page.getByText('宫保鸡丁 x 1').waitFor({ timeout: LIVE_MS });
  assert.ok(page.frames.some((m) => m.type === 'cart_update' && m.message === '购物车更新'));
  // the component's own + (update_quantity), its addItem, 删除 and 清空购物车 (through $confirm)
  await page.getByRole('button', { name: '+' }).click();
  await page.getByText('宫保鸡丁 x 2').waitFor({ timeout: LIVE_MS });
  await page.evaluate(() => window.__comp.vm.addItem(1004, 2, '一碗少饭'));
  await page.getByText('米饭 x 2').waitFor({ timeout: LIVE_MS });
  const cart = (await server.api('GET', '/store/order/cart/123')).data;
  assert.equal(cart.items.find((i) => i.cuisineId === 1004).remark, '一碗少饭');
  await page.getByRole('button', { name: '删除' }).first().click();
  await page.getByText('宫保鸡丁 x 2').waitFor({ state: 'detached', timeout: LIVE_MS });
  await page.getByRole('button', { name: '清空购物车' }).click();
  await page.getByText('米饭 x 2').waitFor({ state: 'detached', timeout: LIVE_MS });
  assert.deepEqual(await page.evaluate(() => window.__comp.confirms), ['确定要清空购物车吗?']);
  assert.equal((await server.api('GET', '/store/order/cart/123')).data.totalQuantity, 0);
  noErrors(page);
});

test('§二 3.2 (Vue, WebSocket): a refused change reaches $message.error in Chinese', async () => {
  const page = pages.at(-1);
  await add(1001, 99);
  await page.getByText('宫保鸡丁 x 99').waitFor({ timeout: LIVE_MS });
  await page.getByRole('button', { name: '+' }).click(); // update_quantity to 100
  await page.waitForFunction(() => window.__comp.messages.some((m) => m.kind === 'error'), null, { timeout: LIVE_MS });
  const errors = await page.evaluate(() => window.__comp.messages.filter((m) => m.kind === 'error').map((m) => m.text));
  assert.equal(errors.length, 1);
  assert.match(errors[0], /[\u4e00-\u9fff]/, errors[0]);
  assert.doesNotMatch(errors[0], /[A-Za-z]/, errors[0]);
});
