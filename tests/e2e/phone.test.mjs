// The page on real phone sizes, as diners hold them: a small Android (360×640), an iPhone SE
// (320×568) and a large phone (414×896), touch and mobile viewport emulated, device pixel ratio
// 2 or 3. Nothing may stick out sideways (a phone then widens its layout viewport: the + of each
// dish and the cart bar end up off screen), every dish's + and the cart bar are on screen and
// take a tap, with the demo menu and with the longest data the server takes (a 60-character dish
// name, a 200-character remark, a 20-character table number, 99 in a line, 100 lines).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Server, launch, diner, waitConnected, waitLine, DEMO_MENU, shot } from './harness.mjs';

const PHONES = [
  { name: 'iphone-se', width: 320, height: 568, scale: 2 },
  { name: 'android-small', width: 360, height: 640, scale: 3 },
  { name: 'large', width: 414, height: 896, scale: 3 },
];

let demo, long, browser;
const pages = [];

/** A menu with the longest values: a 60-character name (CJK and unbroken Latin), prices that make
 * a line of 99 and the total five digits before the point, 100 dishes for 100 lines. */
function longMenu(dir) {
  const cuisines = [
    { cuisineId: 1, cuisineName: '特'.repeat(60), cuisineType: 1, cuisineImage: '/img/gongbao-jiding.svg', unitPrice: 99999.99, category: '超长的分类名称超长的分类名称' },
    { cuisineId: 2, cuisineName: 'W'.repeat(60), cuisineType: 1, unitPrice: 1010.1, category: '热菜' },
  ];
  for (let i = 3; i <= 100; i++) cuisines.push({ cuisineId: i, cuisineName: `菜品${i}号`, cuisineType: 1, unitPrice: 0.01, category: '凉菜' });
  const file = path.join(dir, 'long-menu.json');
  const table = { tableId: 123, tableNumber: 'A'.repeat(20) };
  writeFileSync(file, JSON.stringify({ stores: [{ storeId: 1, name: '长', tables: [table, { tableId: 124, tableNumber: '桌'.repeat(20) }], cuisines }] }));
  return file;
}

before(async () => {
  demo = await new Server({ menu: DEMO_MENU }).start();
  long = new Server({ args: ['--rate-changes', '0'] });
  long.menu = longMenu(long.dir);
  await long.start();
  browser = await launch();
  // the long table: a 99 line, a 200-character remark, 100 lines
  await long.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1, quantity: 1, remark: 'R'.repeat(200) });
  await long.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 2, quantity: 99, remark: '备'.repeat(200) });
  for (let i = 3; i <= 100; i++) await long.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: i, quantity: 1 });
});

after(async () => {
  for (const [i, p] of pages.entries()) await shot(p, `phone-${i}`);
  await browser?.close();
  await demo?.close();
  await long?.close();
});

async function phone(server, spec, table = 123) {
  const page = await diner(browser, server, { table, viewport: { width: spec.width, height: spec.height }, scale: spec.scale });
  pages.push(page);
  return page;
}

/** The layout as the phone has it: page and viewport widths, what sticks out, the bars' boxes. */
function layout(page) {
  return page.evaluate(() => {
    const out = [];
    for (const e of document.querySelectorAll('body *')) {
      const r = e.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && (r.left < -0.5 || r.right > innerWidth + 0.5)) out.push(`${e.tagName}.${e.className} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
    const box = (id) => {
      const r = document.getElementById(id).getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
    };
    // every dish's last button (its +) inside the screen's width
    const plus = [...document.querySelectorAll('#menu-groups .dish .stepper button:last-child')].filter((b) => b.getBoundingClientRect().right > innerWidth + 0.5).length;
    // the bar's words on one line each (购物/车 and 查/看 broke at 320 px): line boxes of their text
    const lines = (sel) => {
      const r = document.createRange();
      r.selectNodeContents(document.querySelector(sel));
      return r.getClientRects().length;
    };
    const button = document.getElementById('cart-open');
    // (the label may be dropped, class tight, where the bar cannot hold it: 0 lines)
    const barWords = { labelBroken: lines('.bottombar-label') > 1, go: lines('.bottombar-go'), overflow: button.scrollWidth > button.clientWidth };
    return { scrollWidth: document.scrollingElement.scrollWidth, innerWidth, visual: visualViewport.width, innerHeight, sticking: out.slice(0, 5), plusOff: plus, bar: box('cart-open'), barWords };
  });
}

function assertFits(l, spec, what) {
  assert.deepEqual(
    { scrollWidth: l.scrollWidth, innerWidth: l.innerWidth, visual: l.visual, sticking: l.sticking, plusOff: l.plusOff, barWords: l.barWords },
    { scrollWidth: spec.width, innerWidth: spec.width, visual: spec.width, sticking: [], plusOff: 0, barWords: { labelBroken: false, go: 1, overflow: false } },
    `${what} at ${spec.width}×${spec.height}`
  );
  assert.ok(l.bar.left >= 0 && l.bar.right <= spec.width && l.bar.bottom <= spec.height && l.bar.top >= 0, `${what}: cart bar ${JSON.stringify(l.bar)} on a ${spec.width}×${spec.height} screen`);
}

/** The top bar's parts, by bounding boxes; `me` is 我的昵称 or its field, whichever is shown. */
const topbar = (page) =>
  page.evaluate(() => {
    const box = (e) => {
      const r = e.getBoundingClientRect();
      return { left: r.left, right: r.right, width: r.width, height: r.height, shown: r.width > 0 };
    };
    const $ = (id) => document.getElementById(id);
    const form = !$('name-form').hidden;
    return {
      innerWidth,
      scrollWidth: document.scrollingElement.scrollWidth,
      form,
      table: box($('table-number')),
      presence: box($('presence')),
      conn: box($('conn-state')),
      me: box(form ? $('name-form') : $('my-name')),
      parts: (form ? ['name-input', 'name-save', 'name-cancel'] : ['my-name']).map((id) => box($(id))),
    };
  });

function assertTopbar(t, spec, what) {
  const at = `${what} at ${spec.width}px: ${JSON.stringify(t)}`;
  assert.equal(t.scrollWidth, spec.width, at);
  // the status words and 我的昵称 (or its field) side by side: none overlaps another, none off screen
  const left = [t.table, t.presence, t.conn].filter((b) => b.shown);
  for (const b of left) assert.ok(b.right <= t.me.left, at);
  if (t.presence.shown) assert.ok(t.presence.right <= t.conn.left, at);
  assert.ok(t.me.right <= spec.width - 8, at);
  for (const b of t.parts) {
    assert.ok(b.left >= t.me.left - 0.5 && b.right <= t.me.right + 0.5, at);
    assert.ok(b.width >= 44 && b.height >= 44, at);
  }
  // 保存 and 取消 each on one line (a wrapped button grows taller than the 44 px field)
  if (t.form) assert.ok(t.parts[1].height <= t.parts[0].height + 4 && t.parts[2].height <= t.parts[0].height + 4, at);
}

for (const spec of PHONES) {
  test(`the demo menu at ${spec.width}×${spec.height}: nothing sticks out, every + and the cart bar on screen and tappable`, async () => {
    await demo.api('DELETE', '/store/order/cart/clear?tableId=123'); // each phone starts from an empty cart
    const P = await phone(demo, spec);
    assertFits(await layout(P), spec, 'demo menu');
    // taps, not clicks: the first dish's + then its − n +
    const d = P.locator('#menu-groups .dish[data-cuisine-id="1001"]');
    await d.getByRole('button', { name: '加入 宫保鸡丁' }).tap();
    await waitLine(P, 1001, 1);
    await d.getByRole('button', { name: '加一份 宫保鸡丁' }).tap();
    await waitLine(P, 1001, 2);
    assertFits(await layout(P), spec, 'demo menu with a line');
    await P.locator('#cart-open').tap();
    await P.waitForSelector('#cart', { state: 'visible' });
    assertFits(await layout(P), spec, 'demo menu, drawer open');
    await P.getByRole('button', { name: '减一份 宫保鸡丁' }).last().tap();
    await waitLine(P, 1001, 1);
    await P.getByRole('button', { name: '删除 宫保鸡丁' }).tap();
    await waitLine(P, 1001, 0);
    await P.locator('#cart-close').tap();
    await P.waitForSelector('#cart', { state: 'hidden' });

    // the top bar: 我的昵称's field with 保存 and 取消, then a 12-character name beside the longest
    // status (12 online, disconnected: set on the page, the words the page uses)
    await P.locator('#my-name').tap();
    await P.waitForSelector('#name-form', { state: 'visible' });
    assertTopbar(await topbar(P), spec, 'name field open');
    assertFits(await layout(P), spec, 'name field open');
    await P.fill('#name-input', '张三李四王五赵六钱七孙八');
    await P.locator('#name-save').tap();
    await P.waitForFunction(() => document.getElementById('my-name-text').textContent === '张三李四王五赵六钱七孙八');
    await P.evaluate(() => {
      document.getElementById('presence').textContent = '12 人在点餐';
      const c = document.getElementById('conn-state');
      c.dataset.state = 'disconnected';
      c.textContent = '已断开，正在重连…';
    });
    assertTopbar(await topbar(P), spec, 'a long name, disconnected');
    assertFits(await layout(P), spec, 'a long name, disconnected');
    assert.deepEqual(P.errors, []);
  });

  test(`the longest data at ${spec.width}×${spec.height}: a 60-character name, 200-character remarks, 99 in a line, 100 lines`, async () => {
    const P = await phone(long, spec);
    assert.equal(await P.textContent('#bar-quantity'), '198');
    assert.equal(await P.textContent('#bar-amount'), '200000.87');
    assertFits(await layout(P), spec, 'long menu');
    // a total no cart reaches here, nine digits: where the bar cannot hold 购物车 beside it, the
    // label goes (the icon and badge say it); 查看 stays whole and nothing overflows
    await P.evaluate(() => {
      document.getElementById('bar-amount').textContent = '999999999.99';
      dispatchEvent(new Event('resize'));
    });
    assertFits(await layout(P), spec, 'a nine-digit total');
    if (spec.width === 320) assert.equal(await P.locator('#bottombar.tight').count(), 1);
    await P.locator('#cart-open').tap();
    await P.waitForSelector('#cart', { state: 'visible' });
    assert.equal(await P.locator('#cart-items .cart-line').count(), 100);
    assertFits(await layout(P), spec, 'long menu, drawer open');
    assert.deepEqual(P.errors, []);
  });
}

/** Tells the page it went to the background (`hidden`) or came back, as a phone does. */
function setHidden(page, hidden) {
  return page.evaluate((h) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('back from a minute in the pocket over a connection that died silently, the page reads the cart again at once', async () => {
  await demo.api('DELETE', '/store/order/cart/clear?tableId=124');
  // the phone's first socket goes quiet while it is in the pocket (a NAT that forgot it, a network
  // that changed): nothing the server sends reaches the page any more, and no close either
  let sockets = 0;
  let silent = false;
  const P = await diner(browser, demo, {
    table: 124,
    transport: 'ws',
    viewport: { width: 360, height: 640 },
    scale: 3,
    setup: async (page) => {
      await page.clock.install(); // the minute in the pocket is the page's, driven by the test
      await page.routeWebSocket(/\/ws\/cart\//, (ws) => {
        const first = ++sockets === 1;
        const srv = ws.connectToServer();
        ws.onMessage((m) => srv.send(m));
        srv.onMessage((m) => {
          if (!(first && silent)) ws.send(m);
        });
      });
    },
  });
  pages.push(P);
  assert.equal(sockets, 1);
  // a few seconds away (another app, a glance at a message) keeps the channel it has
  await setHidden(P, true);
  await P.clock.runFor(5000);
  await setHidden(P, false);
  assert.equal(await P.evaluate(() => window.__tablecart.state), 'connected');

  await setHidden(P, true);
  silent = true;
  await demo.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 1001, quantity: 2 });
  await P.clock.runFor(60000); // a minute: the page's heartbeat goes out, nothing comes back
  assert.equal(await P.locator('#cart-items .cart-line').count(), 0);
  await setHidden(P, false);
  await waitLine(P, 1001, 2);
  await waitConnected(P);
  assert.equal(sockets, 2);
  // and the new socket is live: another change arrives by itself
  await demo.api('POST', '/store/order/cart/add', { tableId: 124, cuisineId: 1003, quantity: 1 });
  await waitLine(P, 1003, 1);
  assert.deepEqual(await P.evaluate(() => [window.__tablecart.state, window.__tablecart.transport]), ['connected', 'ws']);
});
