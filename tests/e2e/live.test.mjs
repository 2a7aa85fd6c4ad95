// Two diners on one table (SSE and WebSocket), a third on another table, money, sold-out dishes,
// the clear-cart confirmation: all against the real server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, waitCart, lineText, lineRemark, dish, openCart, closeCart, shot, LIVE_MS } from './harness.mjs';

let server, browser, A, B, C;

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(async () => {
  for (const [p, n] of [[A, 'live-A'], [B, 'live-B'], [C, 'live-C']]) if (p) await shot(p, n);
  await browser?.close();
  await server?.close();
});

test('the page shows the table, the menu by type, prices with two decimals, sold-out dishes', async () => {
  A = await diner(browser, server, { table: 123 });
  assert.equal(await A.textContent('#table-number'), 'A01');
  assert.equal(await A.textContent('#conn-state'), '已同步');
  assert.equal(await A.evaluate(() => window.__tablecart.transport), 'sse');
  // this menu file gives no categories: the sections are 单品 / 套餐 by cuisineType
  assert.deepEqual(await A.locator('#menu-groups .menu-group > h2').allTextContents(), ['单品', '套餐']);
  assert.deepEqual(await A.locator('#menu-rail .rail-item').allTextContents(), ['单品', '套餐']);
  assert.equal(await A.locator('.menu-group[data-category="套餐"] .dish').count(), 2);
  assert.equal(await dish(A, 1003).locator('.dish-price').textContent(), '¥22.50');
  assert.equal(await dish(A, 1001).locator('.dish-price').textContent(), '¥38.00');
  assert.equal(await dish(A, 1004).locator('.dish-price').textContent(), '¥2.05');
  // sold out: shown, marked, and its button is disabled
  const sold = dish(A, 1005);
  assert.match(await sold.textContent(), /已售罄/);
  assert.equal(await sold.locator('.stepper button').count(), 1);
  assert.equal(await sold.locator('.stepper button').isDisabled(), true);
  // pictures that are missing or fail to load become the placeholder
  await A.waitForFunction(() =>
    [1001, 1002, 1003].every((id) => document.querySelector(`.dish[data-cuisine-id="${id}"] img`).src.endsWith('/img/placeholder.svg'))
  );
  assert.equal(await A.textContent('#cart-empty'), '购物车还是空的，快去点菜吧');
  assert.deepEqual(A.errors, []);
});

test('A adds a dish over HTTP, B (WebSocket mode) sees it live, with its remark', async () => {
  B = await diner(browser, server, {
    table: 123,
    transport: 'ws',
    setup: (page) => {
      page.sent = [];
      page.on('websocket', (ws) => ws.on('framesent', (f) => page.sent.push(String(f.payload))));
    },
  });
  assert.equal(await B.evaluate(() => window.__tablecart.transport), 'ws');
  const aId = await A.evaluate(() => window.__tablecart.userId);
  const bId = await B.evaluate(() => window.__tablecart.userId);
  assert.notEqual(aId, bId);

  await dish(A, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await waitLine(A, 1001, 1);
  await waitLine(B, 1001, 1);
  // a remark written with the seed's add (from another phone) shows in place on both pages
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1001, quantity: 1, remark: '少辣' });
  await waitLine(B, 1001, 2);
  await server.api('PUT', '/store/order/cart/update', { tableId: 123, cuisineId: 1001, quantity: 1 });
  await waitLine(A, 1001, 1);
  await waitLine(B, 1001, 1);
  assert.equal(await lineRemark(B, 1001), '少辣');
  assert.equal(await lineRemark(A, 1001), '少辣');
  assert.equal(await lineText(B, 1001, '.cart-line-subtotal'), '¥38.00');
  // B was told somebody else changed the cart
  await B.waitForFunction(() => window.__tablecart.notices >= 1);
  assert.equal(await B.isVisible('#notice'), true);
  assert.equal(await B.textContent('#notice'), '购物车已更新');
  // and told screen readers through a live region that was in the page all along: rendered
  // (not display: none), polite, and given the text after it was shown
  await B.waitForFunction(() => document.getElementById('say-status').textContent === '购物车已更新');
  assert.deepEqual(
    await B.evaluate(() => {
      const r = document.getElementById('say-status');
      return [r.hidden, getComputedStyle(r).display, r.getAttribute('role'), r.getAttribute('aria-live')];
    }),
    [false, 'block', 'status', 'polite']
  );
});

test('B changes the quantity over the WebSocket, A (SSE) sees it and gets a notice; no notice for own changes', async () => {
  const sent = B.sent;
  const before = await A.evaluate(() => window.__tablecart.notices);
  await openCart(B);
  // + in the cart adds one portion and keeps the remark: add_item with remark null
  await B.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-plus').click();
  await waitLine(B, 1001, 2);
  await waitLine(A, 1001, 2);
  assert.equal(await lineText(A, 1001, '.cart-line-subtotal'), '¥76.00');
  assert.equal(await A.textContent('#total-amount'), '76.00');
  assert.equal(await lineRemark(A, 1001), '少辣');
  await A.waitForFunction((n) => window.__tablecart.notices === n + 1, before);
  const msgs = sent.map((s) => JSON.parse(s));
  assert.ok(
    msgs.some((m) => m.type === 'add_item' && m.data.cuisineId === 1001 && m.data.quantity === 1 && m.data.remark === null),
    'B sent add_item without a remark over the socket: ' + sent.join(' ')
  );
  // − goes over HTTP with If-Match of the version B shows (a socket command carries none)
  const version = await B.evaluate(() => window.__tablecart.version);
  const minus = B.waitForRequest((r) => r.url().includes('/cart/update'));
  await B.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-minus').click();
  await waitLine(A, 1001, 1);
  const put = await minus;
  assert.equal(put.method(), 'PUT');
  assert.equal(put.headers()['if-match'], `"v${version}"`);
  assert.deepEqual(put.postDataJSON(), { tableId: 123, cuisineId: 1001, quantity: 1 });
  assert.ok(!sent.some((s) => JSON.parse(s).type === 'update_quantity'), sent.join(' '));
  await B.locator('#cart-items .cart-line[data-cuisine-id="1001"] .btn-plus').click();
  await waitLine(A, 1001, 2);
  await closeCart(B);
  const bNotices = await B.evaluate(() => window.__tablecart.notices);

  // B adds a set meal over the socket (add_item, seed §二.4.1 shape), A sees it within a second,
  // marked as B's (the socket carried B's ?userId=)
  // Timed from B's send on its socket, not from before the click: Playwright's click (scroll,
  // stable frames, hit test) on a machine busy with the other test lane took part of the second.
  await B.evaluate(() => {
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      if (String(data).includes('"add_item"')) window.__addSentAt = Date.now();
      return send.call(this, data);
    };
  });
  await dish(B, 2002).getByRole('button', { name: /加入/ }).click();
  await waitLine(A, 2002, 1);
  const t0 = await B.evaluate(() => window.__addSentAt);
  assert.ok(t0 > 0, 'B sent no add_item over its socket');
  const latency = (await A.evaluate(() => window.__tablecart.renderedAt)) - t0;
  assert.ok(latency < 1000, `A showed B's change after ${latency} ms`);
  const bId = await B.evaluate(() => window.__tablecart.userId);
  assert.equal(bId, await B.evaluate(() => window.__tablecart.userId));
  // B's own socket changes answered with *_success: no notice for B
  assert.equal(await B.evaluate(() => window.__tablecart.notices), bNotices);

  // A adds rice three times from the menu; totals come from the server, exact
  for (let i = 0; i < 3; i++) {
    await dish(A, 1004).locator('.btn-add, .btn-plus').click();
    await waitLine(A, 1004, i + 1);
  }
  await waitLine(B, 1004, 3);
  assert.equal(await lineText(B, 1004, '.cart-line-subtotal'), '¥6.15');
  assert.equal(await B.textContent('#total-amount'), '128.05'); // 76.00 + 45.90 + 6.15
  assert.equal(await B.textContent('#total-quantity'), '6');
  assert.equal(await B.textContent('#bar-amount'), '128.05');

  // B removes the set meal: 删除 goes over HTTP with If-Match too
  await openCart(B);
  await waitLine(B, 1004, 3);
  const shown = await B.evaluate(() => window.__tablecart.version);
  const removal = B.waitForRequest((r) => r.url().includes('/cart/remove'));
  await B.locator('#cart-items .cart-line[data-cuisine-id="2002"] .btn-remove').click();
  await waitLine(A, 2002, 0);
  assert.equal((await removal).headers()['if-match'], `"v${shown}"`);
  assert.ok(!sent.some((s) => JSON.parse(s).type === 'remove_item'));
  // the menu's − on A's page takes rice back down to 2 (update over HTTP)
  await dish(A, 1004).locator('.btn-minus').click();
  await waitLine(B, 1004, 2);
});

test('a third diner at another table sees none of it', async () => {
  C = await diner(browser, server, { table: 124 });
  assert.equal(await C.textContent('#table-number'), 'A02');
  await waitCart(C, {});
  // one more change on table 123 while C is connected...
  await dish(A, 1002).getByRole('button', { name: /加入/ }).click();
  await waitLine(B, 1002, 1);
  // ...then a change on C's own table: once C shows that, it would have shown 123's too
  await server.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 2001, quantity: 1 });
  await waitCart(C, { 2001: 1 });
  assert.equal(await C.evaluate(() => window.__tablecart.notices), 1);
  assert.equal(await C.textContent('#total-amount'), '128.00');
  await waitCart(A, { 1001: 2, 1004: 2, 1002: 1 });
  await waitCart(B, { 1001: 2, 1004: 2, 1002: 1 });
});

test('clearing the cart asks first; cancel keeps it, confirm empties it for everyone', async () => {
  await openCart(A);
  assert.equal((await A.textContent('#cart-totals')).replace(/\s+/g, ' ').trim(), '共 5 份，合计 ¥112.10'); // 2×38.00 + 2×2.05 + 32.00
  await A.click('#clear-cart');
  assert.equal(
    (await A.textContent('#confirm-clear p')).replace(/\s+/g, ''),
    '确定要清空购物车吗？将清空本桌的购物车，同桌的人都会看到。'
  );
  await A.waitForSelector('#confirm-clear[open]');
  await A.click('#confirm-clear-cancel');
  await A.waitForSelector('#confirm-clear', { state: 'hidden' });
  await waitCart(A, { 1001: 2, 1004: 2, 1002: 1 });

  await openCart(B);
  await B.click('#clear-cart'); // B is on the WebSocket: clear_cart goes over the socket
  await B.waitForSelector('#confirm-clear[open]');
  await B.click('#confirm-clear-ok');
  await waitCart(B, {});
  await waitCart(A, {});
  assert.equal(await A.textContent('#total-amount'), '0.00');
  assert.equal(await A.isVisible('#cart-empty'), true);
  await waitCart(C, { 2001: 1 }, LIVE_MS);
  for (const p of [A, B, C]) assert.deepEqual(p.errors, []);
});

test('a server error is shown in plain words', async () => {
  // a line of 99 is the limit; the page disables +, and the server's refusal of one more is shown
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1003, quantity: 99 });
  await waitLine(A, 1003, 99);
  assert.equal(await A.locator('#cart-items .cart-line[data-cuisine-id="1003"] .btn-plus').isDisabled(), true);
  // a stale page: the line vanishes on the server, then A (not yet updated) sets its quantity
  await A.evaluate(() => {
    window.__stale = document.querySelector('#cart-items .cart-line[data-cuisine-id="1003"] .btn-minus');
  });
  await server.api('DELETE', '/store/order/cart/remove?tableId=123&cuisineId=1003');
  await waitLine(A, 1003, 0);
  // the old button's handler still holds cuisineId 1003 → PUT update → 404 from the server
  await A.evaluate(() => window.__stale.click());
  await A.waitForSelector('#toast-error:not([hidden])');
  // the server's own message, shown as it comes (the same request asked directly)
  const res = await fetch(server.url + '/api/store/order/cart/update', {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', 'X-User-Id': '5' },
    body: JSON.stringify({ tableId: 123, cuisineId: 1003, quantity: 98 }),
  });
  assert.equal(res.status, 404);
  const message = (await res.json()).message;
  assert.equal(await A.textContent('#toast-error'), message);
  // read out at once (assertive), from a region that is always rendered
  await A.waitForFunction((m) => document.getElementById('say-alert').textContent === m, message);
  assert.deepEqual(
    await A.evaluate(() => {
      const r = document.getElementById('say-alert');
      return [r.hidden, getComputedStyle(r).display, r.getAttribute('role'), r.getAttribute('aria-live')];
    }),
    [false, 'block', 'alert', 'assertive']
  );
});

test('in WebSocket mode the page sends a heartbeat every 30 s and gets pong', async () => {
  let socket;
  const W = await diner(browser, server, {
    table: 125,
    transport: 'ws',
    setup: async (page) => {
      await page.clock.install(); // page timers under the test's control: no 30 s wait
      page.on('websocket', (ws) => (socket = ws));
      // the page's time of each heartbeat it sends
      await page.addInitScript(() => {
        window.__heartbeatsAt = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) {
          if (JSON.parse(data).type === 'heartbeat') window.__heartbeatsAt.push(Date.now());
          return send.call(this, data);
        };
      });
    },
  });
  // install() alone lets the page's time flow: stop it (a second on), so that from here on the
  // page's timers run only as far as the test runs them, however slow the machine
  await W.clock.pauseAt(await W.evaluate(() => Date.now() + 1000));
  const sentAt = () => W.evaluate(() => window.__heartbeatsAt.slice());
  const pong = () =>
    socket.waitForEvent('framereceived', {
      predicate: (f) => {
        const m = JSON.parse(f.payload);
        return m.type === 'heartbeat' && m.message === 'pong';
      },
    });
  // the first within 30 s of being connected (a moment before the pause), answered with pong
  let answered = pong();
  for (let i = 0; i < 30 && (await sentAt()).length === 0; i++) await W.clock.runFor(1000);
  assert.equal((await sentAt()).length, 1);
  await answered;
  // then one every 30 s of the page's time, each answered
  for (let n = 2; n <= 3; n++) {
    const sent = socket.waitForEvent('framesent', { predicate: (f) => JSON.parse(f.payload).type === 'heartbeat' });
    answered = pong();
    await W.clock.runFor(29000);
    assert.equal((await sentAt()).length, n - 1, 'no heartbeat before 30 s');
    await W.clock.runFor(1000);
    await sent;
    await answered;
    const at = await sentAt();
    assert.equal(at.length, n);
    assert.equal(at[n - 1] - at[n - 2], 30000);
  }
  assert.equal(await W.textContent('#conn-state'), '已同步');
  await W.context().close();
});
