// One diner with two tabs of the page (one browser context: the same localStorage, so the same
// diner id), and another diner at the same table: 购物车已更新 is news of somebody else's change,
// so the diner's own changes made in the other tab bring no notice, while the other diner gets one
// for each of them, and the diner's two tabs get one for the other diner's change.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitConnected, waitLine, dish, openCart, closeCart, finish } from './harness.mjs';

let server, browser, A1, A2, B;

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(async () => {
  await finish('tabs', [A1, A2, B].filter(Boolean), browser, server);
});

/** Another tab of the same diner: a second page in `page`'s browser context. */
async function tab(page, query) {
  const p = await page.context().newPage();
  p.errors = [];
  p.on('pageerror', (e) => p.errors.push(String(e)));
  await p.goto(server.url + '/' + query);
  await waitConnected(p);
  return p;
}

const notices = (page) => page.evaluate(() => window.__tablecart.notices);

/** Waits until the page holds no pushed cart undecided (waiting to learn whose change it was). */
const settled = (page) => page.waitForFunction(() => !(window.__tablecart.held > 0), null, { timeout: 15000 });

/** After a change by the diner of A1 and A2: both tabs and B show `id` at `qty`, all decided. */
async function allShow(id, qty) {
  for (const p of [A1, A2, B]) await waitLine(p, id, qty);
  for (const p of [A1, A2, B]) await settled(p);
}

test("a change made in one of my tabs is no 购物车已更新 in my other tab; another diner's is", async () => {
  A1 = await diner(browser, server, { table: 123 }); // SSE, changes over HTTP
  A2 = await tab(A1, '?table=123&transport=ws'); // the same diner's second tab, over the WebSocket
  B = await diner(browser, server, { table: 123 }); // another diner
  const id = (p) => p.evaluate(() => window.__tablecart.userId);
  assert.equal(await id(A2), await id(A1));
  assert.notEqual(await id(B), await id(A1));
  assert.equal(await A2.evaluate(() => window.__tablecart.transport), 'ws');

  // A1 adds over HTTP
  await dish(A1, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await allShow(1001, 1);
  assert.deepEqual([await notices(A1), await notices(A2), await notices(B)], [0, 0, 1]);
  assert.equal(await A2.isVisible('#notice'), false);

  // A2 adds over its WebSocket (the server answers A2 and pushes to every other stream)
  await dish(A2, 1002).getByRole('button', { name: '加入 鱼香肉丝' }).click();
  await allShow(1002, 1);
  await dish(A2, 1002).getByRole('button', { name: '加一份 鱼香肉丝' }).click();
  await allShow(1002, 2);
  assert.deepEqual([await notices(A1), await notices(A2), await notices(B)], [0, 0, 3]);
  assert.equal(await A1.isVisible('#notice'), false);

  // − from the drawer goes over HTTP with If-Match, from either tab; 删除 too
  await openCart(A2);
  await A2.locator('#cart-items').getByRole('button', { name: '减一份 鱼香肉丝' }).click();
  await allShow(1002, 1);
  await closeCart(A2);
  await openCart(A1);
  await A1.locator('#cart-items').getByRole('button', { name: '删除 宫保鸡丁' }).click();
  await allShow(1001, 0);
  await closeCart(A1);
  assert.deepEqual([await notices(A1), await notices(A2), await notices(B)], [0, 0, 5]);
  assert.equal(await A2.isVisible('#notice'), false);

  // the other diner's change is news in both of my tabs, once each
  await dish(B, 1003).getByRole('button', { name: '加入 麻婆豆腐' }).click();
  for (const p of [A1, A2]) await p.waitForFunction(() => window.__tablecart.notices === 1, null, { timeout: 5000 });
  for (const p of [A1, A2]) assert.equal(await p.textContent('#notice'), '购物车已更新');
  assert.equal(await notices(B), 5);
  for (const p of [A1, A2, B]) assert.deepEqual(p.errors, []);
});

test("a tab that closed with its change on its way holds the other tab's notices 12 s at most", async () => {
  const T2 = await diner(browser, server, {
    table: 124,
    setup: (page) => page.clock.install(), // the 12 s are the page's, driven by the test
  });
  await T2.clock.pauseAt(await T2.evaluate(() => Date.now() + 1000));
  // a tab of the same diner says a change of table 124 leaves and then never says how it ended
  // (closed mid-change): its message as the page sends it, from a page of the same origin
  const gone = await T2.context().newPage();
  await gone.goto(server.url + '/favicon.svg');
  const me = await T2.evaluate(() => window.__tablecart.userId);
  await gone.evaluate((userId) => new BroadcastChannel('tablecart.changes').postMessage({ userId, tableId: 124, kind: 'begin', id: 'c1' }), me);
  await T2.waitForFunction(() => window.__tablecart.otherTabsChanging === 1, null, { timeout: 5000 });
  await gone.close();
  // another diner's change meanwhile: shown, its notice held
  await server.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 1002, quantity: 1 });
  await waitLine(T2, 1002, 1);
  assert.equal(await notices(T2), 0);
  assert.equal(await T2.evaluate(() => window.__tablecart.held), 1);
  await T2.clock.runFor(11000);
  assert.equal(await notices(T2), 0);
  await T2.clock.runFor(1000);
  assert.equal(await notices(T2), 1);
  assert.equal(await T2.evaluate(() => window.__tablecart.otherTabsChanging), 0);
  assert.equal(await T2.textContent('#notice'), '购物车已更新');
  assert.deepEqual(T2.errors, []);
  await T2.context().close();
});

test("my other tab's change whose push comes before that tab's word is still no notice", async () => {
  // The stream and the channel are two roads: under load the push of the other tab's change can
  // reach this tab before the other tab's 'begin'. Here every channel message reaches C1 300 ms
  // late, so the push always comes first; C1 knows the diner has another tab (its hello, answered)
  // and holds the push for that word.
  const C1 = await diner(browser, server, {
    table: 125,
    setup: (page) =>
      page.addInitScript(() => {
        const set = Object.getOwnPropertyDescriptor(BroadcastChannel.prototype, 'onmessage').set;
        Object.defineProperty(BroadcastChannel.prototype, 'onmessage', {
          set(fn) {
            set.call(this, (ev) => setTimeout(() => fn(ev), 300));
          },
        });
      }),
  });
  const C2 = await tab(C1, '?table=125&transport=ws');
  // each knows of the other (a diner's first change comes long after a tab's hello)
  for (const p of [C1, C2]) await p.waitForFunction(() => window.__tablecart.otherTab === true, null, { timeout: 5000 });
  await dish(C2, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await waitLine(C1, 1001, 1);
  await C1.waitForFunction(() => !(window.__tablecart.held > 0) && window.__tablecart.otherTabsChanging === 0, null, { timeout: 5000 });
  assert.equal(await notices(C1), 0);
  assert.equal(await C1.isVisible('#notice'), false);
  // another diner's change is news in C1 still, a moment later (the same grace)
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1002, quantity: 1 });
  await C1.waitForFunction(() => window.__tablecart.notices === 1, null, { timeout: 5000 });
  assert.equal(await C1.textContent('#notice'), '购物车已更新');
  for (const p of [C1, C2]) assert.deepEqual(p.errors, []);
  await C1.context().close();
});

test('a − refused (409) because my other tab changed the cart says so, not 他人', async () => {
  // D1 polls with its clock stopped once open, and its cart reads are refused while D2 (the same
  // diner, another tab) changes the cart, so it stays behind; D2's word on the tabs' channel
  // still reaches it
  const D1 = await diner(browser, server, {
    table: 124,
    transport: 'poll',
    setup: (page) => page.clock.install(),
  });
  await D1.clock.pauseAt(await D1.evaluate(() => Date.now() + 1000));
  const D2 = await tab(D1, '?table=124');
  await dish(D1, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await waitLine(D1, 1001, 1);
  await waitLine(D2, 1001, 1);
  const shown = await D1.evaluate(() => window.__tablecart.version);
  // and no poll of D1 may bring what D2 does next (one may still be due)
  const cartUrl = /\/store\/order\/cart\/124$/;
  await D1.route(cartUrl, (route) => (route.request().method() === 'GET' ? route.abort() : route.continue()));
  await dish(D2, 1001).getByRole('button', { name: '加一份 宫保鸡丁' }).click();
  await waitLine(D2, 1001, 2);
  // D1 heard of version 2 as the diner's own, but does not show it
  await D1.waitForFunction(() => window.__tablecart.otherTabsChanging === 0, null, { timeout: 5000 });
  await D1.unroute(cartUrl);
  assert.equal(await D1.evaluate(() => window.__tablecart.version), shown);
  const answer = D1.waitForResponse((r) => r.url().includes('/cart/remove'));
  await dish(D1, 1001).locator('.btn-minus').click();
  assert.equal((await answer).status(), 409);
  await waitLine(D1, 1001, 2); // the cart as it is, asked for at once
  assert.equal(await D1.textContent('#toast-error'), '购物车已在你的另一个页面更新，请再试一次。');
  for (const p of [D1, D2]) assert.deepEqual(p.errors, []);
  await D1.context().close();
});
