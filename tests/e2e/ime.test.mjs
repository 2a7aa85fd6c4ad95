// A remark typed with an input method (pinyin: "wei la" composed, then 微辣 picked) while other
// diners change the cart: the field is not redrawn while it is composing, so the composition is
// neither cut off nor copied into a new field as text ("wei la微辣"). The input method is Chromium's
// own, driven over the DevTools Protocol (Input.imeSetComposition / Input.insertText).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, openCart, lineRemark, finish } from './harness.mjs';

let server, browser;
const pages = [];

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(() => finish('ime', pages, browser, server));

const FIELD = '#cart-items .cart-line[data-cuisine-id="1001"] .remark-input';

test('a remark being composed with a pinyin input method survives a push and a presence meanwhile', async () => {
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1001, quantity: 1 });
  const P = await diner(browser, server);
  pages.push(P);
  await waitLine(P, 1001, 1);
  await openCart(P);
  const cdp = await P.context().newCDPSession(P);
  await P.focus(FIELD);
  await P.evaluate((sel) => {
    const input = document.querySelector(sel);
    input.marked = true; // the field the diner is in
    window.ime = [];
    for (const t of ['compositionstart', 'compositionend']) input.addEventListener(t, () => window.ime.push(t));
  }, FIELD);
  await cdp.send('Input.imeSetComposition', { text: 'wei', selectionStart: 3, selectionEnd: 3 });
  await cdp.send('Input.imeSetComposition', { text: 'wei la', selectionStart: 6, selectionEnd: 6 });

  // somebody else adds a dish, and another diner sits down (a presence): both arrive mid-word
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1002, quantity: 1 });
  await P.waitForFunction(() => window.__tablecart.cart.items.length === 2);
  const Q = await diner(browser, server);
  pages.push(Q);
  await P.waitForFunction(() => window.__tablecart.presence.online === 2);
  // the field is the same element, still composing, focused, holding the composition only
  assert.equal(await P.evaluate((sel) => document.querySelector(sel).marked === true && document.activeElement === document.querySelector(sel), FIELD), true);
  assert.equal(await P.inputValue(FIELD), 'wei la');
  assert.deepEqual(await P.evaluate(() => window.ime), ['compositionstart']);

  // 微辣 picked: the composition ends, and the cart is drawn with the new line and the word typed
  await cdp.send('Input.insertText', { text: '微辣' });
  await waitLine(P, 1002, 1);
  assert.deepEqual(await P.evaluate(() => window.ime), ['compositionstart', 'compositionend']);
  assert.equal(await lineRemark(P, 1001), '微辣');
  assert.equal(await P.evaluate((sel) => document.activeElement === document.querySelector(sel), FIELD), true);
  assert.equal(await P.locator('#cart-items .cart-line').count(), 2);

  // and it saves as typed
  await P.keyboard.press('Enter');
  await P.waitForFunction(() => window.__tablecart.cart.items.find((i) => i.cuisineId === 1001).remark === '微辣');
  const line = (await server.api('GET', '/store/order/cart/123')).data.items.find((i) => i.cuisineId === 1001);
  assert.equal(line.remark, '微辣');
  assert.equal(line.quantity, 1);
  assert.deepEqual(P.errors, []);
});
