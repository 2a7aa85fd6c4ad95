// A change given up after 10 s may have been applied (its answer lost) or not (it never arrived).
// The page re-reads the cart, takes the cart that looked like its change as its own (no
// 购物车已更新 for it), and the next identical change within a minute is its retry: it goes out
// with the same Idempotency-Key, so the server applies it once. The page clock is the test's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, waitConnected, dish, finish, pageNow, runTo } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('retry', pages, browser, server));

const serverLines = async (table) => (await server.api('GET', `/store/order/cart/${table}`)).data.items.map((i) => [i.cuisineId, i.quantity]);
const enabled = (page, id) => page.waitForFunction((i) => document.querySelector(`#menu-groups .dish[data-cuisine-id="${i}"] .btn-round:last-child`).disabled === false, id);

/**
 * A diner at `table` whose page clock stops once open. `answers`: 'pass' (the default), 'lost'
 * (the POST …/cart/add reaches the server, which applies it, but its answer never comes back) or
 * 'unsent' (it never reaches the server). `keys` are the Idempotency-Keys of the adds sent, `reads`
 * counts the cart GETs. `held()`: resolves when the next add is held on its way (sent by the page,
 * stopped by the route): only then may the test move the page's clock past the page's timeout,
 * which aborts the request, one the browser may not have handed to the route yet on a busy machine.
 */
async function slowAdds(table) {
  const net = { answers: 'pass', keys: [], reads: 0, applied: null, held: null };
  let applied, held;
  const P = await diner(browser, server, {
    table,
    setup: async (page) => {
      await page.clock.install();
      page.on('request', (r) => r.method() === 'GET' && r.url().endsWith(`/cart/${table}`) && net.reads++);
      await page.route('**/api/store/order/cart/add', async (route) => {
        net.keys.push(route.request().headers()['idempotency-key']);
        if (held) held();
        if (net.answers === 'pass') return route.continue();
        if (net.answers === 'lost') {
          await route.fetch(); // applied by the server; the answer goes nowhere
          applied();
        }
      });
    },
  });
  pages.push(P);
  await P.clock.pauseAt(await P.evaluate(() => Date.now() + 1000));
  net.applied = () => new Promise((resolve) => (applied = resolve));
  net.held = () => new Promise((resolve) => (held = resolve));
  return [P, net];
}

test('a change applied whose answer is lost: no 购物车已更新 for it, and its retry adds nothing', async () => {
  const [P, net] = await slowAdds(123);
  const notices = await P.evaluate(() => window.__tablecart.notices);
  net.answers = 'lost';
  const applied = net.applied();
  const tapAt = await pageNow(P);
  await dish(P, 1001).locator('.btn-add').click();
  await applied;
  await waitLine(P, 1001, 1); // its push: shown at once, its notice held
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1002, quantity: 1 }); // somebody else
  await waitLine(P, 1002, 1);
  assert.equal(await P.evaluate(() => window.__tablecart.held), 2);
  await runTo(P, tapAt + 9000);
  assert.equal(await P.isHidden('#toast-error'), true);
  const reads = net.reads;
  await runTo(P, tapAt + 10000);
  await P.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await P.textContent('#toast-error'), '服务器没有回应，请重试。');
  await enabled(P, 1001);
  // the cart was read again; one notice, for the other diner's 鱼香肉丝 only
  assert.equal(net.reads, reads + 1);
  assert.equal(await P.evaluate(() => window.__tablecart.held), 0);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), notices + 1);

  // the diner retries, as told: the same key, so the server answers with the first answer
  net.answers = 'pass';
  const replayed = P.waitForResponse((r) => r.url().includes('/cart/add'));
  await dish(P, 1001).locator('.btn-plus').click();
  assert.equal((await replayed).status(), 200);
  await P.waitForSelector('#notice:not([hidden])');
  assert.equal(await P.textContent('#notice'), '刚才的更改已生效，没有重复提交。');
  await enabled(P, 1001);
  assert.deepEqual(await serverLines(123), [[1001, 1], [1002, 1]]);
  assert.equal(await dish(P, 1001).locator('.qty').textContent(), '1');
  assert.equal(net.keys.length, 2);
  assert.equal(net.keys[1], net.keys[0]);

  // a tap after that is a new portion, with a new key
  await dish(P, 1001).locator('.btn-plus').click();
  await waitLine(P, 1001, 2);
  assert.deepEqual(await serverLines(123), [[1001, 2], [1002, 1]]);
  assert.equal(new Set(net.keys).size, 2);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), notices + 1);
  assert.deepEqual(P.errors, []);
});

test('a change that never arrived: its retry is applied once; a minute later the same tap is a new change', async () => {
  const [P, net] = await slowAdds(124);
  net.answers = 'unsent';
  let tapAt = await pageNow(P);
  let held = net.held();
  await dish(P, 1003).locator('.btn-add').click();
  await held;
  await runTo(P, tapAt + 10000);
  await P.waitForSelector('#toast-error:not([hidden])');
  await enabled(P, 1003);
  assert.deepEqual(await serverLines(124), []);

  // retried within the minute: the same key, applied now (the server never saw it)
  net.answers = 'pass';
  await dish(P, 1003).locator('.btn-add').click();
  await waitLine(P, 1003, 1);
  assert.equal(net.keys[1], net.keys[0]);
  assert.equal(await P.isHidden('#notice'), true);

  // lost again; the diner waits more than a minute: the next + is a portion of its own
  net.answers = 'unsent';
  tapAt = await pageNow(P);
  held = net.held();
  await dish(P, 1003).locator('.btn-plus').click();
  await held;
  await runTo(P, tapAt + 10000);
  await enabled(P, 1003);
  await runTo(P, tapAt + 10000 + 60001);
  net.answers = 'pass';
  await dish(P, 1003).locator('.btn-plus').click();
  await waitLine(P, 1003, 2);
  assert.equal(net.keys.length, 4);
  assert.equal(new Set(net.keys).size, 3);
  assert.notEqual(net.keys[3], net.keys[2]);
  assert.deepEqual(await serverLines(124), [[1003, 2]]);
  assert.deepEqual(P.errors, []);
});

test('a WebSocket that drops with a command on its way: the lost-answer path, no 购物车已更新 for it, and its retry over the new socket adds nothing', async () => {
  // the server applies the add; the socket closes before its reply reaches the page
  let drop = true;
  const adds = []; // the add_item commands the page sent
  const P = await diner(browser, server, {
    table: 125,
    transport: 'ws',
    setup: async (page) => {
      await page.routeWebSocket(/\/ws\/cart\//, (ws) => {
        const srv = ws.connectToServer();
        ws.onMessage((m) => {
          const cmd = JSON.parse(String(m));
          if (cmd.type === 'add_item') adds.push(cmd);
          srv.send(m);
        });
        srv.onMessage((m) => {
          if (drop && JSON.parse(String(m)).type === 'add_item_success') {
            drop = false;
            ws.close();
            srv.close();
            return;
          }
          ws.send(m);
        });
      });
    },
  });
  pages.push(P);
  await dish(P, 1001).locator('.btn-add').click();
  await P.waitForSelector('#toast-error:not([hidden])');
  assert.equal(await P.textContent('#toast-error'), '无法连接服务器，请检查网络。');
  await waitLine(P, 1001, 1);
  await waitConnected(P); // a new socket, whose first message is the cart as it is now
  const version = (await server.api('GET', '/store/order/cart/125')).data.version;
  await P.waitForFunction((v) => window.__tablecart.version === v && !document.querySelector(`#menu-groups .dish[data-cuisine-id="1001"] .btn-round:last-child`).disabled, version);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), 0);
  assert.equal(await P.isHidden('#notice'), true);
  assert.deepEqual(await serverLines(125), [[1001, 1]]);

  // the diner retries over the new socket: the same idempotencyKey, so the server answers with
  // the first answer and the cart keeps its one portion
  await dish(P, 1001).locator('.btn-plus').click();
  await P.waitForSelector('#notice:not([hidden])');
  assert.equal(await P.textContent('#notice'), '刚才的更改已生效，没有重复提交。');
  await enabled(P, 1001);
  assert.deepEqual(await serverLines(125), [[1001, 1]]);
  assert.equal((await server.api('GET', '/store/order/cart/125')).data.version, version);
  assert.equal(adds.length, 2);
  assert.match(adds[0].idempotencyKey, /^[0-9a-f]{32}$/);
  assert.equal(adds[1].idempotencyKey, adds[0].idempotencyKey);

  // a tap after that is a new portion, with a new key
  await dish(P, 1001).locator('.btn-plus').click();
  await waitLine(P, 1001, 2);
  assert.deepEqual(await serverLines(125), [[1001, 2]]);
  assert.equal(adds.length, 3);
  assert.notEqual(adds[2].idempotencyKey, adds[0].idempotencyKey);
  assert.equal(await P.evaluate(() => window.__tablecart.notices), 0);
  assert.deepEqual(P.errors, []);
});
