// Keyboard and screen-reader focus: every answer and every push redraws the steppers and the
// cart's lines; the control the diner was on must still have focus afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, dish, openCart, finish } from './harness.mjs';

let server, browser, P;

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('focus', [P].filter(Boolean), browser, server));

/** What has focus, as "area cuisineId role" (or the element's id / tag). */
const focused = (page) =>
  page.evaluate(() => {
    const a = document.activeElement;
    if (!a || a === document.body) return 'body';
    const li = a.closest('.dish, .cart-line');
    const role = ['btn-minus', 'btn-plus', 'btn-add', 'btn-remove'].find((c) => a.classList.contains(c)) || a.tagName;
    return li ? `${li.classList.contains('dish') ? 'menu' : 'cart'} ${li.dataset.cuisineId} ${role}` : a.id || a.tagName;
  });

test('a stepper worked from the keyboard keeps focus through its own answer and through pushes', async () => {
  P = await diner(browser, server, { table: 125 });
  await dish(P, 1001).locator('.btn-add').focus();
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.version === 1 && !document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-plus').disabled);
  assert.equal(await focused(P), 'menu 1001 btn-plus'); // + became "− 1 +": still on its +
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.version === 2 && !document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-plus').disabled);
  assert.equal(await focused(P), 'menu 1001 btn-plus');
  // another diner's change redraws everything: focus stays where it was
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1002, quantity: 1 });
  await P.waitForFunction(() => window.__tablecart.version === 3);
  assert.equal(await focused(P), 'menu 1001 btn-plus');
  // − from the keyboard; at 1 the line goes and its − with it: focus lands on the dish's +
  await dish(P, 1001).locator('.btn-minus').focus();
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.version === 4 && !document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-minus').disabled);
  assert.equal(await focused(P), 'menu 1001 btn-minus');
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.version === 5 && !document.querySelector('#menu-groups .dish[data-cuisine-id="1001"] .btn-add').disabled);
  assert.equal(await focused(P), 'menu 1001 btn-add');
});

test('the cart drawer\'s buttons keep focus through answers and pushes; a removed line hands it on', async () => {
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1003, quantity: 1 });
  await P.waitForFunction(() => window.__tablecart.version === 6);
  await openCart(P);
  const line = (id) => P.locator(`#cart-items .cart-line[data-cuisine-id="${id}"]`);
  await line(1002).locator('.btn-plus').focus();
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.version === 7 && !document.querySelector('#cart-items .cart-line[data-cuisine-id="1002"] .btn-plus').disabled);
  assert.equal(await focused(P), 'cart 1002 btn-plus');
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1004, quantity: 1 });
  await P.waitForFunction(() => window.__tablecart.version === 8);
  assert.equal(await focused(P), 'cart 1002 btn-plus');
  // 删除 of the first line: the line that takes its place gets the focus on its own 删除
  await line(1002).locator('.btn-remove').focus();
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.version === 9 && !document.querySelector('#cart-items .cart-line .btn-remove').disabled);
  assert.equal(await focused(P), 'cart 1003 btn-remove');
  assert.equal(P.errors.length, 0, P.errors.join('\n'));
});

test('the cart drawer takes focus when it opens and gives it back to 查看 when it closes', async () => {
  await P.click('#cart-close');
  await P.waitForSelector('#cart', { state: 'hidden' });
  await P.focus('#cart-open');
  await P.keyboard.press('Enter');
  await P.waitForSelector('#cart', { state: 'visible' });
  assert.equal(await P.evaluate(() => document.getElementById('cart').contains(document.activeElement)), true);
  await P.keyboard.press('Escape');
  await P.waitForSelector('#cart', { state: 'hidden' });
  assert.equal(await focused(P), 'cart-open');
  await P.keyboard.press('Enter');
  await P.waitForSelector('#cart', { state: 'visible' });
  await P.focus('#cart-close');
  await P.keyboard.press('Enter');
  await P.waitForSelector('#cart', { state: 'hidden' });
  assert.equal(await focused(P), 'cart-open');
});

test('the name form gives focus back to 我的昵称 when it is saved or cancelled', async () => {
  await P.focus('#my-name');
  await P.keyboard.press('Enter');
  assert.equal(await focused(P), 'name-input');
  await P.keyboard.press('Escape');
  await P.waitForSelector('#name-form', { state: 'hidden' });
  assert.equal(await focused(P), 'my-name');
  await P.keyboard.press('Enter');
  await P.fill('#name-input', '小明');
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => document.getElementById('my-name-text').textContent === '小明');
  assert.equal(await focused(P), 'my-name');
  assert.equal(P.errors.length, 0, P.errors.join('\n'));
});

test('each cart line\'s controls name their dish (a screen reader hears which line, not ten 删除)', async () => {
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1002, quantity: 1 });
  await P.waitForFunction(() => document.querySelectorAll('#cart-items .cart-line').length >= 3);
  await openCart(P);
  const items = P.locator('#cart-items');
  for (const name of ['鱼香肉丝', '麻婆豆腐', '米饭']) {
    const line = P.locator('#cart-items .cart-line', { hasText: name });
    assert.equal(await items.getByRole('button', { name: `减一份 ${name}`, exact: true }).count(), 1, name);
    assert.equal(await items.getByRole('button', { name: `加一份 ${name}`, exact: true }).count(), 1, name);
    assert.equal(await items.getByRole('button', { name: `删除 ${name}`, exact: true }).count(), 1, name);
    assert.equal(await items.getByRole('textbox', { name: `${name} 的备注`, exact: true }).count(), 1, name);
    assert.equal(await line.getByRole('button', { name: `保存 ${name} 的备注`, exact: true }).count(), 1, name);
  }
});

test('the open cart drawer is modal: Tab and Shift+Tab stay in it, the page behind is inert until it closes', async () => {
  await openCart(P);
  assert.equal(await P.getAttribute('#cart', 'role'), 'dialog');
  assert.equal(await P.getAttribute('#cart', 'aria-modal'), 'true');
  const inert = () => P.evaluate(() => ['topbar', 'app', 'bottombar'].map((id) => document.getElementById(id).inert));
  assert.deepEqual(await inert(), [true, true, true]);
  const here = () =>
    P.evaluate(() => {
      const a = document.activeElement;
      return a.id || a.getAttribute('aria-label') || a.tagName;
    });
  // the drawer's controls, in the order Tab goes through them
  const order = await P.evaluate(() =>
    [...document.querySelectorAll('#cart button, #cart input')].filter((e) => !e.disabled && e.getClientRects().length > 0).map((e) => e.id || e.getAttribute('aria-label'))
  );
  assert.equal(order.length, 2 + 5 * 3); // 清空, ×, and per line: remark, 保存, −, +, 删除
  await P.focus('#clear-cart');
  const forward = [];
  for (let i = 0; i < order.length * 2; i++) {
    await P.keyboard.press('Tab');
    forward.push(await here());
  }
  assert.deepEqual(forward, [...order.slice(1), ...order, order[0]]);
  const backward = [];
  for (let i = 0; i < order.length + 2; i++) {
    await P.keyboard.press('Shift+Tab');
    backward.push(await here());
  }
  const rev = [...order].reverse();
  assert.deepEqual(backward, [...rev, ...rev.slice(0, 2)]);
  // nothing behind the backdrop can take the focus
  await P.evaluate(() => {
    document.getElementById('my-name').focus();
    document.querySelector('#menu-groups .btn-round').focus();
  });
  assert.equal(await P.evaluate(() => document.getElementById('cart').contains(document.activeElement)), true);
  // a tap on the bar still closes it (through to the dimmed backdrop)
  const bar = await P.locator('#bottombar').boundingBox();
  await P.mouse.click(bar.x + bar.width / 2, bar.y + bar.height / 2);
  await P.waitForSelector('#cart', { state: 'hidden' });
  assert.deepEqual(await inert(), [false, false, false]);
  await openCart(P);
  await P.keyboard.press('Escape');
  await P.waitForSelector('#cart', { state: 'hidden' });
  assert.deepEqual(await inert(), [false, false, false]);
  assert.equal(await focused(P), 'cart-open');
  await P.keyboard.press('Tab'); // and the page is the keyboard's again
  assert.equal(await P.evaluate(() => document.getElementById('cart').contains(document.activeElement)), false);
  assert.equal(P.errors.length, 0, P.errors.join('\n'));
});

test('a remark saved with Enter while its line\'s + is on its way is saved once that + is answered', async () => {
  await openCart(P);
  const id = await P.evaluate(() => document.querySelector('#cart-items .cart-line').dataset.cuisineId);
  const line = `#cart-items .cart-line[data-cuisine-id="${id}"]`;
  const qty = Number(await P.getAttribute(line, 'data-quantity'));
  let release;
  const held = new Promise((resolve) => (release = resolve));
  let reached;
  const addReached = new Promise((resolve) => (reached = resolve));
  await P.route('**/api/store/order/cart/add', async (route) => {
    reached();
    await held; // the + is on its way until the test lets it go
    await route.continue();
  });
  await P.click(`${line} .btn-plus`);
  await addReached;
  assert.equal(await P.isDisabled(`${line} .btn-remark-save`), true);
  await P.fill(`${line} .remark-input`, '不要花生');
  const update = P.waitForRequest((r) => r.url().includes('/cart/update'), { timeout: 5000 });
  await P.press(`${line} .remark-input`, 'Enter');
  release();
  const sent = await update;
  assert.equal(JSON.parse(sent.postData()).remark, '不要花生');
  await P.waitForFunction(
    ([sel, q]) => {
      const li = document.querySelector(sel);
      return li && li.dataset.quantity === String(q) && li.querySelector('.remark-input').dataset.dirty === '' && !li.querySelector('.btn-remark-save').disabled;
    },
    [line, qty + 1]
  );
  const cart = (await server.api('GET', '/store/order/cart/125')).data;
  assert.equal(cart.items.find((i) => String(i.cuisineId) === id).remark, '不要花生');
  await P.unroute('**/api/store/order/cart/add');
  await P.keyboard.press('Escape');
  await P.waitForSelector('#cart', { state: 'hidden' });
  assert.equal(P.errors.length, 0, P.errors.join('\n'));
});

test('a screen reader hears the diner\'s own name on 我的昵称', async () => {
  await P.waitForFunction(() => document.getElementById('my-name-text').textContent === '小明');
  assert.equal(await P.getByRole('button', { name: '我的昵称：小明，点按修改', exact: true }).count(), 1);
  assert.match(await P.locator('#my-name').ariaSnapshot(), /button "我的昵称：小明，点按修改"/);
});

test('清空 → 确定清空 from the keyboard leaves the focus on the drawer\'s ×, not on nothing', async () => {
  await openCart(P);
  assert.notEqual(await P.locator('#cart-items .cart-line').count(), 0);
  await P.focus('#clear-cart');
  await P.keyboard.press('Enter');
  await P.waitForSelector('#confirm-clear[open]');
  await P.focus('#confirm-clear-ok');
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => document.querySelectorAll('#cart-items .cart-line').length === 0 && document.getElementById('clear-cart').disabled);
  await P.waitForFunction(() => document.activeElement && document.activeElement.id === 'cart-close', null, { timeout: 3000 });
  assert.equal(await P.isVisible('#cart'), true);
  await P.keyboard.press('Escape');
  await P.waitForSelector('#cart', { state: 'hidden' });
  assert.equal(P.errors.length, 0, P.errors.join('\n'));
});
