// Who is at the table, names on the lines, remarks edited in place, the live menu and the server's
// Chinese messages, with three and four diners at one table (390×844). These need the server side
// of issue 11 (presence, set_name, shares, remark-only update, menu_update, the text catalogue).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Server, launch, diner, waitLine, waitCart, lineText, lineRemark, dish, openCart, closeCart, shot, MENU } from './harness.mjs';

let server, browser, A, B, C, D;
const PRESENCE_MS = 3000; // the promise is "within a second"; this is how long a test waits for it

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(async () => {
  for (const [p, n] of [[A, 'diners-A'], [B, 'diners-B'], [D, 'diners-D']]) if (p && !p.isClosed()) await shot(p, n);
  await browser?.close();
  await server?.close();
});

/** Records what a page sends: HTTP requests to the API, frames on its WebSocket. */
function recorder(page) {
  page.sent = [];
  page.requests = [];
  page.on('websocket', (ws) => ws.on('framesent', (f) => page.sent.push(JSON.parse(String(f.payload)))));
  page.on('request', (r) => r.url().includes('/api/') && page.requests.push({ method: r.method(), url: r.url(), body: r.postData() }));
}

const waitText = (page, sel, text, timeout = PRESENCE_MS) =>
  page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent === t, [sel, text], { timeout });

const waitRemark = (page, id, text) =>
  page.waitForFunction(
    ([i, t]) => document.querySelector(`#cart-items .cart-line[data-cuisine-id="${i}"] .remark-input`)?.value === t,
    [id, text],
    { timeout: 5000 }
  );

test('presence: the count goes up as diners open the page and down as they leave; seats 1号, 2号, 3号', async () => {
  A = await diner(browser, server, { table: 123, setup: recorder });
  await waitText(A, '#presence', '1 人在点餐');
  await waitText(A, '#my-name-text', '1号');
  B = await diner(browser, server, { table: 123, transport: 'ws', setup: recorder });
  for (const p of [A, B]) await waitText(p, '#presence', '2 人在点餐');
  await waitText(B, '#my-name-text', '2号');
  C = await diner(browser, server, { table: 123 });
  for (const p of [A, B, C]) await waitText(p, '#presence', '3 人在点餐');
  await waitText(C, '#my-name-text', '3号');
  // a diner at another table does not count here
  const other = await diner(browser, server, { table: 124 });
  await waitText(other, '#presence', '1 人在点餐');
  assert.equal(await A.textContent('#presence'), '3 人在点餐');
  await other.context().close();
  // C puts the phone away: the others see 2 again
  await C.context().close();
  for (const p of [A, B]) await waitText(p, '#presence', '2 人在点餐');
  // joining is presence, not a cart change: no 购物车已更新
  assert.equal(await A.evaluate(() => window.__tablecart.notices), 0);
  assert.deepEqual(A.errors, []);
});

test('names: changed in place; lines show everyone\'s share by name, mine as 我', async () => {
  // A renames over HTTP (SSE page)
  await A.click('#my-name');
  await A.waitForSelector('#name-form', { state: 'visible' });
  assert.equal(await A.inputValue('#name-input'), '1号');
  await A.fill('#name-input', '  张三 ');
  await A.press('#name-input', 'Enter');
  await waitText(A, '#my-name-text', '张三');
  assert.ok(A.requests.some((r) => r.method === 'PUT' && r.url.endsWith('/api/store/order/table/123/name') && JSON.parse(r.body).name === '张三'));
  // B renames over its WebSocket, with the 保存 button
  await B.click('#my-name');
  await B.fill('#name-input', '李四');
  await B.click('#name-save');
  await waitText(B, '#my-name-text', '李四');
  assert.ok(B.sent.some((m) => m.type === 'set_name' && m.data.name === '李四'), JSON.stringify(B.sent));
  // a name the server would refuse is caught on the page, nothing is sent
  const before = A.requests.length;
  await A.click('#my-name');
  await A.fill('#name-input', '一二三四五六七八九十一二三');
  await A.press('#name-input', 'Enter');
  await A.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await A.textContent('#toast-error'), '昵称须为 1 到 12 个字。');
  assert.equal(A.requests.length, before);
  await A.click('#name-cancel');
  await waitText(A, '#my-name-text', '张三');

  await dish(A, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await waitLine(A, 1001, 1);
  await dish(A, 1001).locator('.btn-plus').click();
  await waitLine(B, 1001, 2);
  await dish(B, 1001).locator('.btn-plus').click();
  await waitLine(A, 1001, 3);
  await waitText(A, '#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-who', '我 2 份 · 李四 1 份');
  await waitText(B, '#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-who', '张三 2 份 · 我 1 份');

  // a fourth phone (seat 4: C's seat 3 is kept) sees both names, then adds its own share
  D = await diner(browser, server, { table: 123, setup: recorder });
  await waitText(D, '#my-name-text', '4号');
  for (const p of [A, B, D]) await waitText(p, '#presence', '3 人在点餐');
  assert.equal(await lineText(D, 1001, '.cart-line-who'), '张三 2 份 · 李四 1 份');
  await dish(D, 1001).locator('.btn-plus').click();
  await waitText(A, '#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-who', '我 2 份 · 李四 1 份 · 4号 1 份');
  // renaming shows on every line of every phone
  await D.click('#my-name');
  await D.fill('#name-input', '王五');
  await D.press('#name-input', 'Enter');
  await waitText(B, '#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-who', '张三 2 份 · 我 1 份 · 王五 1 份');

  // a reload keeps A's seat and name (the id is kept in localStorage)
  await A.reload();
  await waitText(A, '#my-name-text', '张三');
  await waitText(A, '#presence', '3 人在点餐');
  await waitText(A, '#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-who', '我 2 份 · 李四 1 份 · 王五 1 份');
  for (const p of [A, B, D]) assert.deepEqual(p.errors, []);
});

test('remarks: edited in place without adding a portion; + keeps it; another diner\'s remark asks first', async () => {
  await openCart(A);
  const input = A.locator('#cart-items .cart-line[data-cuisine-id="1001"] .remark-input');
  assert.equal(await input.inputValue(), '');
  const v0 = await A.evaluate(() => window.__tablecart.version);
  A.requests.length = 0;
  await input.fill('微辣');
  await input.press('Enter');
  for (const p of [A, B, D]) await waitRemark(p, 1001, '微辣');
  // the remark alone: no portion added, one new version
  await waitLine(B, 1001, 4);
  assert.equal(await A.evaluate(() => window.__tablecart.version), v0 + 1);
  const put = A.requests.find((r) => r.method === 'PUT' && r.url.endsWith('/cart/update'));
  assert.deepEqual(JSON.parse(put.body), { tableId: 123, cuisineId: 1001, remark: '微辣' });

  // + in the cart adds a portion and keeps the remark
  await A.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-plus').click();
  await waitLine(B, 1001, 5);
  await openCart(B);
  assert.equal(await lineRemark(B, 1001), '微辣');
  const add = A.requests.find((r) => r.method === 'POST' && r.url.endsWith('/cart/add'));
  assert.equal(JSON.parse(add.body).remark, undefined);

  // what B is typing survives somebody else's change
  const bInput = B.locator('#cart-items .cart-line[data-cuisine-id="1001"] .remark-input');
  await bInput.fill('不要香菜');
  await dish(D, 1004).locator('.btn-add').click();
  await waitLine(B, 1004, 1);
  assert.equal(await bInput.inputValue(), '不要香菜');

  // B changes 张三's remark: asked first; 取消 keeps it
  const vb = await B.evaluate(() => window.__tablecart.version);
  await B.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-remark-save').click();
  await B.waitForSelector('#confirm-remark[open]');
  assert.equal(await B.textContent('#confirm-remark-text'), '这条备注是张三写的：“微辣”。');
  await B.click('#confirm-remark-cancel');
  await B.waitForSelector('#confirm-remark', { state: 'hidden' });
  // the dialog's close event (which puts the remark back) is queued after it hides
  await B.waitForFunction(
    () => document.querySelector('#cart-items .remark-input[data-cuisine-id="1001"]').value === '微辣'
  );
  assert.equal(await bInput.inputValue(), '微辣');
  assert.equal(await B.evaluate(() => window.__tablecart.version), vb);
  // …and 确定修改 replaces it, over B's WebSocket, still without a portion
  await bInput.fill('不要香菜');
  await bInput.press('Enter');
  await B.waitForSelector('#confirm-remark[open]');
  await B.click('#confirm-remark-ok');
  for (const p of [A, B, D]) await waitRemark(p, 1001, '不要香菜');
  assert.ok(
    B.sent.some((m) => m.type === 'update_quantity' && m.data.cuisineId === 1001 && m.data.remark === '不要香菜' && !('quantity' in m.data)),
    JSON.stringify(B.sent)
  );
  await waitCart(A, { 1001: 5, 1004: 1 });
  // the remark is now 李四's: B edits it again without being asked
  await bInput.fill('不要香菜，少盐');
  await bInput.press('Enter');
  for (const p of [A, D]) await waitRemark(p, 1001, '不要香菜，少盐');
  assert.equal(await B.locator('#confirm-remark[open]').count(), 0);
  await closeCart(A);
  await closeCart(B);
});

test('live menu: `tablecart menu import` while pages are open → sold out within 2 s, lines greyed, 现价 shown', async () => {
  await dish(D, 1002).locator('.btn-add').click();
  await waitLine(A, 1002, 1);
  const menu = JSON.parse(readFileSync(MENU, 'utf8'));
  const store = menu.stores.find((s) => s.storeId === 1);
  store.cuisines.find((c) => c.cuisineId === 1002).available = false;
  store.cuisines.find((c) => c.cuisineId === 1001).unitPrice = 40.0;
  const file = path.join(server.dir, 'menu-changed.json');
  writeFileSync(file, JSON.stringify(menu));
  // Timed from the import's end (its commit), not its start, which counted the CLI's own run:
  // a process start and a SQLite commit on a machine busy with the other test lane.
  server.importMenu(file);
  const t0 = Date.now();
  for (const p of [A, B, D])
    await p.waitForFunction(() => document.querySelector('.dish[data-cuisine-id="1002"]')?.classList.contains('sold-out'), null, { timeout: 2000 });
  const took = Date.now() - t0;
  assert.ok(took < 2000, `sold out shown after ${took} ms`);
  for (const p of [A, B, D]) {
    assert.equal(await dish(p, 1002).locator('.sold-out-badge').textContent(), '已售罄');
    assert.equal(await dish(p, 1002).locator('.btn-plus, .btn-add').isDisabled(), true);
    // the line stays, greyed and marked; its + is disabled
    const line = p.locator('#cart-items .cart-line[data-cuisine-id="1002"]');
    assert.match(await line.getAttribute('class'), /\bunavailable\b/);
    assert.equal(await line.locator('.sold-out-badge').textContent(), '已售罄');
    assert.equal(await line.locator('.btn-plus').isDisabled(), true);
    // 宫保鸡丁 keeps the price it was added at and shows the new one
    assert.equal(await lineText(p, 1001, '.cart-line-price'), '¥38.00');
    assert.equal(await lineText(p, 1001, '.cart-line-now'), '现价 ¥40.00');
    assert.equal(await dish(p, 1001).locator('.dish-price').textContent(), '¥40.00');
    assert.ok((await p.evaluate(() => window.__tablecart.menuUpdates)) >= 1);
  }
  // the cart itself did not change
  await waitCart(A, { 1001: 5, 1004: 1, 1002: 1 });
  // a change to the line re-prices it: no more 现价
  await dish(A, 1001).locator('.btn-plus').click();
  await A.waitForFunction(() => document.querySelector('#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-price')?.textContent === '¥40.00');
  assert.equal(await A.locator('#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-now').count(), 0);
  // another phone's add of the sold-out dish is refused, in Chinese, by name
  const res = await fetch(server.url + '/api/store/order/cart/add', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-User-Id': '9' },
    body: JSON.stringify({ tableId: 123, cuisineId: 1002, quantity: 1 }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).message, '鱼香肉丝已售罄');
  for (const p of [A, B, D]) assert.deepEqual(p.errors, []);
});

test('the server\'s messages reach diners in Chinese (HTTP and WebSocket pages)', async () => {
  // stale pages: the line vanishes on the server, then A (SSE) and B (WebSocket) press its −,
  // which goes over HTTP with If-Match on both (of the version they show now: the 404 is the news)
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1003, quantity: 2 });
  for (const p of [A, B]) {
    await waitLine(p, 1003, 2);
    await p.evaluate(() => {
      window.__stale = document.querySelector('#cart-items .cart-line[data-cuisine-id="1003"] .btn-minus');
    });
  }
  await server.api('DELETE', '/store/order/cart/remove?tableId=123&cuisineId=1003');
  for (const p of [A, B]) {
    await waitLine(p, 1003, 0);
    await p.evaluate(() => window.__stale.click());
    await p.waitForSelector('#toast-error:not([hidden])');
    assert.equal(await p.textContent('#toast-error'), '购物车里没有麻婆豆腐');
  }
  // a command refused over the socket: B's + on the cart line of the sold-out 鱼香肉丝, forced past
  // its disabled state
  await B.waitForSelector('#toast-error', { state: 'hidden' });
  const sent = B.sent.length;
  await B.evaluate(() => {
    const plus = document.querySelector('#cart-items .cart-line[data-cuisine-id="1002"] .btn-plus');
    plus.disabled = false;
    plus.click();
  });
  await B.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await B.textContent('#toast-error'), '鱼香肉丝已售罄');
  assert.deepEqual(B.sent.slice(sent).map((m) => [m.type, m.data?.cuisineId]), [['add_item', 1002]]);
  // an unknown table: the page's own words
  const E = await diner(browser, server, { table: 999999, wait: false });
  await E.waitForSelector('#fatal:not([hidden])');
  assert.equal(await E.textContent('#fatal-message'), '桌号 999999 不存在，请重新扫描餐桌上的二维码。');
  await E.context().close();
});

test('a remark field that has focus but was not typed in shows another diner\'s new remark, keeping focus', async () => {
  const E = await diner(browser, server, { table: 125 });
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1001, quantity: 1, remark: '微辣' }, { 'X-User-Id': '555' });
  await waitLine(E, 1001, 1);
  await openCart(E);
  const input = E.locator('#cart-items .cart-line[data-cuisine-id="1001"] .remark-input');
  await input.focus(); // tapped, nothing typed
  await E.evaluate(() => document.activeElement.setSelectionRange(1, 1)); // the caret after 微
  await server.api('PUT', '/store/order/cart/update', { tableId: 125, cuisineId: 1001, remark: '不要辣' }, { 'X-User-Id': '555' });
  await waitRemark(E, 1001, '不要辣');
  assert.deepEqual(
    await E.evaluate(() => {
      const el = document.activeElement;
      return [el.classList.contains('remark-input'), el.dataset.cuisineId, el.selectionStart, el.selectionEnd, el.dataset.dirty];
    }),
    [true, '1001', 1, 1, undefined]
  );
  // once typed in, the field is the diner's: another change keeps the draft
  await input.pressSequentially('很');
  await server.api('PUT', '/store/order/cart/update', { tableId: 125, cuisineId: 1001, remark: '多放醋' }, { 'X-User-Id': '555' });
  await E.waitForFunction(() => window.__tablecart.cart.items[0].remark === '多放醋');
  assert.equal(await input.inputValue(), '不很要辣');
  assert.equal(await E.evaluate(() => document.activeElement.dataset.cuisineId), '1001');
  assert.deepEqual(E.errors, []);
  await E.context().close();
});

test('a menu_update that renames the table shows the new table number', async () => {
  const F = await diner(browser, server, { table: 124 });
  assert.equal(await F.textContent('#table-number'), 'A02');
  assert.equal(await F.title(), 'A02 桌 · 扫码点餐');
  // the menu as the earlier import left it, with table 124 now called B09
  const menu = JSON.parse(readFileSync(path.join(server.dir, 'menu-changed.json'), 'utf8'));
  menu.stores.find((s) => s.storeId === 1).tables.find((t) => t.tableId === 124).tableNumber = 'B09';
  const file = path.join(server.dir, 'menu-renamed.json');
  writeFileSync(file, JSON.stringify(menu));
  server.importMenu(file);
  await waitText(F, '#table-number', 'B09');
  assert.equal(await F.title(), 'B09 桌 · 扫码点餐');
  assert.deepEqual(F.errors, []);
  await F.context().close();
});
