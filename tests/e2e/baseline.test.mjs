// The page on the browsers diners actually have (docs/web.md, Browser baseline): what an old
// Android WebView, WeChat's kernel or iOS 12–14 Safari lacks is taken away from Chromium before
// the page's own script runs (an init script), and the page must still show the menu, add a dish
// (the cart bar's exact count and total), show another diner's change in time, and throw nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitConnected, waitLine, waitCart, waitHeadingBelowBar, dish, openCart, finish, LIVE_MS } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('baseline', pages, browser, server));

/**
 * An init script that takes `features` away, as a browser without them would be:
 * - BroadcastChannel (Safari before 15.4), AbortController (Chrome before 66, Safari before 12.1),
 *   replaceChildren (Chrome before 86, Safari before 14), dialog (HTMLDialogElement's showModal,
 *   show and close: Safari before 15.4), EventSource: gone;
 * - storage: localStorage and sessionStorage throw on access (private modes, WebViews with DOM
 *   storage off);
 * - ws-throws: the WebSocket constructor throws (a WebView or policy that forbids it);
 * - ws-silent: a WebSocket that never opens nor closes (a proxy that swallows the upgrade); the
 *   page counts them in window.__silentSockets, and the first one's Date.now() is
 *   window.__silentAt.
 */
function without(...features) {
  return (page) =>
    page.addInitScript((list) => {
      const gone = (obj, name) => delete obj[name];
      for (const f of list) {
        if (f === 'storage') {
          for (const name of ['localStorage', 'sessionStorage']) {
            Object.defineProperty(window, name, {
              configurable: true,
              get() {
                throw new DOMException('The operation is insecure.', 'SecurityError');
              },
            });
          }
        } else if (f === 'replaceChildren') {
          for (const proto of [Element.prototype, Document.prototype, DocumentFragment.prototype]) gone(proto, 'replaceChildren');
        } else if (f === 'AbortController') {
          gone(window, 'AbortController');
          gone(window, 'AbortSignal');
        } else if (f === 'dialog') {
          for (const m of ['showModal', 'show', 'close']) gone(HTMLDialogElement.prototype, m);
        } else if (f === 'ws-throws') {
          window.WebSocket = function WebSocket() {
            throw new DOMException('WebSocket is not allowed here', 'SecurityError');
          };
          Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
        } else if (f === 'ws-silent') {
          window.__silentSockets = 0;
          // requests of the page not yet answered in full: the test runs the page's clock only
          // while there are none, so that a request's 10 s are not the test's fast-forward
          window.__fetching = 0;
          const realFetch = window.fetch;
          const done = () => window.__fetching--;
          window.fetch = function (...args) {
            window.__fetching++;
            const p = realFetch.apply(this, args);
            p.then((r) => r.clone().arrayBuffer(), () => {}).then(done, done);
            return p;
          };
          class WebSocket {
            constructor(url) {
              window.__silentSockets++;
              if (window.__silentAt === undefined) window.__silentAt = Date.now();
              this.url = url;
              this.readyState = 0;
            }
            send() {
              throw new DOMException('Still in CONNECTING state.', 'InvalidStateError');
            }
            close() {
              this.readyState = 3;
            }
          }
          Object.assign(WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
          window.WebSocket = WebSocket;
        } else gone(window, f);
      }
    }, features);
}

let nextTable = 0;
const TABLES = [123, 124, 125];
/** A table whose cart is empty: the tests share one server, each empties the table it used. */
async function freshTable() {
  const t = TABLES[nextTable++ % TABLES.length];
  await server.api('DELETE', `/store/order/cart/clear?tableId=${t}`);
  return t;
}

/**
 * The checks every stripped page must pass: the whole menu drawn, `+` on 宫保鸡丁 (38.00) gives
 * the bar `1` and `38.00` and the server the line, another diner's 米饭 ×2 shows within the
 * page's stated time (`within`), and no uncaught error.
 */
async function usable(P, table, { within = LIVE_MS } = {}) {
  const menu = await server.api('GET', `/store/order/menu/${table}`);
  assert.equal(await P.locator('#menu-groups .dish').count(), menu.data.cuisines.length);
  assert.equal(await P.isVisible('#menu'), true);
  await dish(P, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await waitCart(P, { 1001: 1 });
  assert.equal(await P.textContent('#bar-quantity'), '1');
  assert.equal(await P.textContent('#bar-amount'), '38.00');
  const cart = await server.api('GET', `/store/order/cart/${table}`);
  assert.deepEqual(
    cart.data.items.map((i) => [i.cuisineId, i.quantity]),
    [[1001, 1]]
  );
  await server.api('POST', '/store/order/cart/add', { tableId: table, cuisineId: 1004, quantity: 2 });
  await waitCart(P, { 1001: 1, 1004: 2 }, within);
  assert.equal(await P.textContent('#bar-quantity'), '3');
  assert.equal(await P.textContent('#bar-amount'), '42.10');
  assert.deepEqual(P.errors, []);
}

test('no BroadcastChannel (Safari before 15.4): live over SSE, no notice for own change', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, { table, setup: without('BroadcastChannel') });
  pages.push(P);
  assert.equal(await P.evaluate(() => typeof BroadcastChannel), 'undefined');
  assert.equal(await P.evaluate(() => window.__tablecart.transport), 'sse');
  await usable(P, table);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), 1); // the other diner's, not ours
  await P.context().close();
});

test('localStorage and sessionStorage that throw (private mode, DOM storage off): a diner id all the same', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, { table, setup: without('storage') });
  pages.push(P);
  assert.equal(await P.evaluate(() => String((() => { try { return localStorage; } catch (e) { return e.name; } })())), 'SecurityError');
  const id = await P.evaluate(() => window.__tablecart.userId);
  assert.ok(Number.isInteger(id) && id >= 1 && id <= 2147483647, String(id));
  await usable(P, table);
  await P.context().close();
});

// a browser without one of the streams, or whose WebSocket will not even start, goes live on
// the next transport of SSE → WebSocket → polling: `connected` there, the change within `within`
for (const [name, features, transport, within] of [
  ['no EventSource: the page goes live over the WebSocket', ['EventSource'], 'ws', LIVE_MS],
  ['no EventSource and a WebSocket constructor that throws: polling, changes within a second', ['EventSource', 'ws-throws'], 'poll', 2000], // a poll every second
]) {
  test(name, async () => {
    const table = await freshTable();
    const P = await diner(browser, server, { table, setup: without(...features) });
    pages.push(P);
    assert.equal(await P.evaluate(() => window.__tablecart.transport), transport);
    assert.equal(await P.textContent('#conn-state'), '已同步');
    await usable(P, table, { within });
    await P.context().close();
  });
}

test('?transport=ws with a WebSocket that never opens: given up after 10 s each, then SSE', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, {
    table,
    transport: 'ws',
    wait: false,
    setup: async (page) => {
      await page.clock.install(); // the 10 s are the page's, driven by the test
      await without('ws-silent')(page);
    },
  });
  pages.push(P);
  await P.waitForSelector('#menu:not([hidden])');
  await P.clock.pauseAt(await P.evaluate(() => Date.now() + 1000));
  // 8 s of the page's time after its first WebSocket was made: a page slow to start (a busy
  // machine) has used some of them already
  const since = await P.evaluate(() => Date.now() - window.__silentAt);
  assert.ok(since < 8000, `the page took ${since} ms of its time to start`);
  await P.clock.runFor(8000 - since);
  assert.equal(await P.evaluate(() => [window.__tablecart.transport, window.__tablecart.state, window.__silentSockets].join()), 'ws,connecting,1');
  // 10 s without `connected`: failed; the plain GET answers, so after a second such failure the
  // page moves on to SSE (the back-off between the two is at most 0.5 s). The clock runs only
  // while no request of the page is on its way: on a busy machine the GET's real answer can
  // take longer than ten of these steps, and its 10 s would then run out on the page's clock.
  const answered = async () => {
    const end = Date.now() + 10000;
    while ((await P.evaluate(() => window.__fetching)) > 0) {
      assert.ok(Date.now() < end, 'a request of the page still unanswered after 10 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  for (let i = 0; i < 30 && (await P.evaluate(() => window.__tablecart.transport)) !== 'sse'; i++) {
    await answered();
    await P.clock.runFor(1000);
  }
  assert.equal(await P.evaluate(() => [window.__tablecart.transport, window.__silentSockets].join()), 'sse,2');
  await P.clock.resume();
  await waitConnected(P);
  await usable(P, table);
  await P.context().close();
});

test('no replaceChildren (Chrome before 86, Safari before 14): menu, steppers and drawer drawn', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, { table, setup: without('replaceChildren') });
  pages.push(P);
  await usable(P, table);
  await openCart(P);
  assert.equal(await P.locator('#cart-items .cart-line').count(), 2);
  await P.locator('#cart-items .cart-line[data-cuisine-id="1004"] .btn-minus').click();
  await waitLine(P, 1004, 1);
  assert.equal(await P.textContent('#bar-quantity'), '2');
  assert.deepEqual(P.errors, []);
  await P.context().close();
});

test('no AbortController (Chrome before 66): a change never answered is still given up after 10 s', async () => {
  const table = await freshTable();
  let lose = false;
  const P = await diner(browser, server, {
    table,
    setup: async (page) => {
      await page.clock.install();
      await without('AbortController')(page);
      await page.route('**/api/store/order/cart/add', (route) => (lose ? undefined : route.continue()));
    },
  });
  pages.push(P);
  await usable(P, table);
  lose = true;
  await P.clock.pauseAt(await P.evaluate(() => Date.now() + 1000));
  const plus = dish(P, 1002).locator('.btn-add');
  await plus.click();
  await P.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1002"] .btn-add').disabled === true);
  await P.clock.runFor(9000);
  assert.equal(await P.isHidden('#toast-error'), true);
  await P.clock.runFor(1000);
  await P.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await P.textContent('#toast-error'), '服务器没有回应，请重试。');
  await P.waitForFunction(() => document.querySelector('#menu-groups .dish[data-cuisine-id="1002"] .btn-add').disabled === false);
  assert.deepEqual(P.errors, []);
  await P.context().close();
});

test('no <dialog> support (Safari before 15.4): 清空 asks in the page, 取消 keeps, 确定清空 clears', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, { table, setup: without('dialog') });
  pages.push(P);
  const url = P.url();
  assert.equal(await P.isVisible('#confirm-clear'), false); // a closed dialog is not in the page
  await usable(P, table);
  await openCart(P);
  await P.click('#clear-cart');
  await P.waitForSelector('#confirm-clear', { state: 'visible' });
  assert.equal(await P.isVisible('#confirm-clear-ok'), true);
  await P.click('#confirm-clear-cancel');
  await P.waitForSelector('#confirm-clear', { state: 'hidden' });
  assert.equal(await P.textContent('#bar-quantity'), '3');
  await P.click('#clear-cart');
  await P.click('#confirm-clear-ok');
  await waitCart(P, {});
  assert.equal(await P.isVisible('#confirm-clear'), false);
  assert.equal(await P.textContent('#bar-quantity'), '0');
  assert.equal(P.url(), url); // the dialog's form did not navigate
  assert.equal((await server.api('GET', `/store/order/cart/${table}`)).data.items.length, 0);
  assert.deepEqual(P.errors, []);
  await P.context().close();
});

test('all of these at once (a Chrome 61 WebView in a private mode): still a working page', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, { table, setup: without('BroadcastChannel', 'storage', 'replaceChildren', 'AbortController', 'dialog') });
  pages.push(P);
  await usable(P, table);
  await openCart(P);
  await P.click('#clear-cart');
  await P.click('#confirm-clear-ok');
  await waitCart(P, {});
  assert.deepEqual(P.errors, []);
  await P.context().close();
});

/** Serves app.css changed by `edit` (what a browser that ignores some of it would lay out). */
function cssEdited(edit) {
  return (page) =>
    page.route('**/app.css', async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, body: edit(await res.text()) });
    });
}

/** Horizontal spaces between neighbours: a dish's picture and text, the bar's badge and label. */
function spaces(P) {
  return P.evaluate(() => {
    const box = (sel) => document.querySelector(sel).getBoundingClientRect();
    return {
      dish: Math.round(box('#menu-groups .dish .dish-body').left - box('#menu-groups .dish .dish-img').right),
      bar: Math.round(box('#bar-quantity').left - box('.bottombar-cart .cart-icon').right),
      noGap: document.documentElement.classList.contains('no-flex-gap'),
    };
  });
}

test('no flexbox gap (Chrome before 84, Safari before 14.1): measured, the same spaces as margins', async () => {
  const table = await freshTable();
  const N = await diner(browser, server, { table });
  const P = await diner(browser, server, { table, setup: cssEdited((css) => css + '\n* { gap: 0 !important; row-gap: 0 !important; column-gap: 0 !important; }\n') });
  pages.push(N, P);
  assert.deepEqual(await spaces(N), { dish: 10, bar: 8, noGap: false });
  assert.deepEqual(await spaces(P), { dish: 10, bar: 8, noGap: true });
  await usable(P, table);
  for (const p of [N, P]) await p.context().close();
});

test('no scroll-margin-top (Chrome before 69, Safari before 14.1): a rail tap still stops below the top bar', async () => {
  const table = await freshTable();
  const P = await diner(browser, server, {
    table,
    setup: async (page) => {
      await cssEdited((css) => css.replace(/scroll-margin-top:[^;]*;/g, ''))(page);
      await page.addInitScript(() => {
        const supports = CSS.supports.bind(CSS);
        CSS.supports = (...a) => !/scroll-margin/.test(a[0]) && supports(...a);
      });
    },
  });
  pages.push(P);
  assert.equal(await P.locator('#menu-rail .rail-item').count(), 2); // 单品, 套餐
  for (const i of [1, 0, 1]) {
    await P.locator('#menu-rail .rail-item').nth(i).click();
    await waitHeadingBelowBar(P, i);
  }
  assert.deepEqual(P.errors, []);
  await P.context().close();
});
