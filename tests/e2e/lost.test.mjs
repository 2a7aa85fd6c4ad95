// Reads whose answer never comes (a flaky network, a stalled proxy) are given up after 10 s, as
// changes are, and each place that reads recovers: a polling page reconnects, a stream's probe
// after a failure still schedules the reconnect, a dish refused 409 is tappable again, the start
// shows its error with 重试 instead of 正在加载菜单… for good. The page clock is the test's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitConnected, waitState, waitLine, dish, finish, pageNow, runTo } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('lost', pages, browser, server));

/**
 * Routes the page's GETs of `re`. `arm()` makes the next one get no answer, ever (the request is
 * held, never sent on), and resolves once it is held; `held` counts them. While `stale`, a poll
 * (a GET with If-None-Match) is answered 304 here, as if nothing had changed; `idle()` resolves
 * once no request this route sent on is still on its way.
 */
async function lossyGets(page, re) {
  let armed = null;
  const onWay = new Set();
  let waiting = [];
  const reads = {
    held: 0,
    stale: false,
    arm: () => new Promise((resolve) => (armed = resolve)),
    idle: () => (onWay.size === 0 ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve))),
  };
  const end = (r) => {
    if (!onWay.delete(r) || onWay.size > 0) return;
    for (const w of waiting) w();
    waiting = [];
  };
  page.on('requestfinished', end);
  page.on('requestfailed', end); // how a 304 ends
  await page.route(re, (route) => {
    const req = route.request();
    if (req.method() === 'GET' && reads.stale && req.headers()['if-none-match']) return route.fulfill({ status: 304 });
    if (req.method() === 'GET' && armed) {
      const done = armed;
      armed = null;
      reads.held++;
      return done();
    }
    onWay.add(req);
    return route.continue();
  });
  return reads;
}

/**
 * A diner's page (opts for diner()) with the page clock installed and its GETs of `re` routed by
 * lossyGets; `more(page, lost)` adds to the set-up. Returns the page and the route's handle.
 */
async function lossyDiner(opts, re, more = async () => {}) {
  let lost;
  const P = await diner(browser, server, {
    ...opts,
    setup: async (page) => {
      await page.clock.install();
      lost = await lossyGets(page, re);
      await more(page, lost);
    },
  });
  pages.push(P);
  return { P, lost };
}

/** Stops the page clock a second on (the margin for the round trip to the page). */
const stopClock = async (page) => page.clock.pauseAt(await page.evaluate(() => Date.now() + 1000));

const add = (table, cuisineId, quantity) => server.api('POST', '/store/order/cart/add', { tableId: table, cuisineId, quantity });
const disabled = (page, id, sel) => dish(page, id).locator(sel).isDisabled();

test('a poll whose answer is lost is given up after 10 s: the polling page reconnects and updates', async () => {
  const { P, lost } = await lossyDiner({ table: 123, transport: 'poll' }, /\/api\/store\/order\/cart\/123$/);
  await stopClock(P);
  const held = lost.arm();
  // the next tick's GET is the one lost (a tick in flight now, answered, schedules the next)
  for (let i = 0; i < 10 && lost.held === 0; i++) await P.clock.runFor(200);
  await held;
  const heldAt = await pageNow(P);
  await add(123, 1002, 2); // the server moves on; the page waits for its lost answer
  await runTo(P, heldAt + 9000);
  assert.equal(await P.evaluate(() => window.__tablecart.state), 'connected');
  assert.equal(await P.evaluate(() => window.__tablecart.version), 0);
  await runTo(P, heldAt + 10000);
  await waitState(P, 'disconnected');
  assert.equal(await P.textContent('#conn-state'), '已断开，正在重连…');
  await P.clock.runFor(500); // the first reconnect's back-off: 0.25 to 0.5 s
  await waitConnected(P);
  await waitLine(P, 1002, 2);
  assert.equal(await P.textContent('#conn-state'), '已同步');
  assert.equal(lost.held, 1);
  assert.deepEqual(P.errors, []);
});

test('after a stream fails, a probe whose answer is lost still leads to a reconnect', async () => {
  let streams = 0;
  const { P, lost } = await lossyDiner({ table: 124 }, /\/api\/store\/order\/cart\/124$/, async (page) => {
    page.on('request', (r) => r.url().includes('/sse/124') && streams++);
  });
  await stopClock(P);
  assert.equal(streams, 1);
  const held = lost.arm();
  await server.restart(); // the stream ends; the page asks the plain cart URL, and hears nothing
  await waitState(P, 'disconnected');
  await held;
  const heldAt = await pageNow(P);
  await add(124, 1003, 1);
  await runTo(P, heldAt + 9000);
  assert.equal(await P.evaluate(() => window.__tablecart.state), 'disconnected');
  assert.equal(streams, 1);
  await runTo(P, heldAt + 10000);
  await P.clock.runFor(500); // the back-off after the failed probe
  await waitConnected(P);
  await waitLine(P, 1003, 1);
  assert.equal(streams, 2);
  assert.equal(lost.held, 1);
  assert.deepEqual(P.errors, []);
});

test('a 409 whose re-read of the cart is lost leaves the dish tappable after 10 s', async () => {
  await add(125, 1001, 2);
  const { P, lost } = await lossyDiner({ table: 125, transport: 'poll' }, /\/api\/store\/order\/cart\/125$/);
  await waitLine(P, 1001, 2);
  // no poll brings the next change: the page falls behind (a poll already on its way to the
  // server is let finish first)
  await stopClock(P);
  lost.stale = true;
  await lost.idle();
  await add(125, 1001, 1);
  const held = lost.arm();
  const answer = P.waitForResponse((r) => r.url().includes('/cart/update'));
  await dish(P, 1001).locator('.btn-minus').click(); // If-Match "v1" → 409 → the re-read, lost
  assert.equal((await answer).status(), 409);
  await held;
  const heldAt = await pageNow(P);
  assert.equal(await disabled(P, 1001, '.btn-minus'), true);
  lost.stale = false;
  await runTo(P, heldAt + 9000); // the polls go on meanwhile and bring the cart
  await waitLine(P, 1001, 3);
  assert.equal(await disabled(P, 1001, '.btn-minus'), true);
  assert.equal(await disabled(P, 1001, '.btn-plus'), true);
  await runTo(P, heldAt + 10000);
  await P.waitForFunction(() => !document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-minus').disabled);
  assert.equal(await disabled(P, 1001, '.btn-plus'), false);
  assert.equal(await P.textContent('#toast-error'), '购物车已被他人更新，请再试一次。');
  assert.equal(lost.held, 1);
  assert.deepEqual(P.errors, []);
});

test('a start whose menu never comes shows 无法连接服务器 with 重试 after 10 s, and 重试 works', async () => {
  let held;
  const { P, lost } = await lossyDiner({ table: 201, wait: false }, /\/api\/store\/order\/menu\/201$/, async (page, reads) => {
    held = reads.arm();
  });
  await held;
  await stopClock(P);
  await P.clock.runFor(8000);
  assert.equal(await P.isVisible('#loading'), true);
  assert.equal(await P.textContent('#loading'), '正在加载菜单…');
  assert.equal(await P.isHidden('#fatal'), true);
  await P.clock.runFor(2000);
  await P.waitForSelector('#fatal:not([hidden])');
  assert.equal(await P.textContent('#fatal-title'), '无法连接服务器');
  assert.equal(await P.textContent('#fatal-message'), '服务器没有回应，请重试。');
  assert.equal(await P.isHidden('#loading'), true);
  await P.click('#fatal-retry');
  await waitConnected(P);
  assert.equal(await P.isVisible('#menu'), true);
  assert.equal(lost.held, 1);
  assert.deepEqual(P.errors, []);
});
