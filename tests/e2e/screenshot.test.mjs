// A phone-sized screenshot with a few dishes in the shared cart, saved under artifacts/ (and, with
// TABLECART_DOCS_SCREENSHOT=1, as docs/screenshot-phone.png for the documentation).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { Server, launch, diner, waitCart, dish, ARTIFACTS, REPO } from './harness.mjs';

let server, browser;

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('phone screenshot (390×844) with a few dishes in the cart', async () => {
  // somebody else at the table already ordered two things
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 2001, quantity: 1 }, { 'X-User-Phone': '13800138000', 'X-User-Id': '100' });
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1004, quantity: 3 }, { 'X-User-Id': '100', 'X-User-Phone': '13800138000' });
  const page = await diner(browser, server, { table: 123 });
  await dish(page, 1001).locator('.dish-remark-toggle').click();
  await dish(page, 1001).locator('.dish-remark-input').fill('少辣,不要花生');
  await dish(page, 1001).locator('.btn-add').click();
  await waitCart(page, { 2001: 1, 1004: 3, 1001: 1 });
  await dish(page, 1001).locator('.btn-plus').click();
  await waitCart(page, { 2001: 1, 1004: 3, 1001: 2 });
  await page.waitForFunction(() => [...document.images].every((i) => i.complete));
  // show the cart, with the end of the menu above it
  await page.evaluate(() => {
    const cart = document.getElementById('cart');
    window.scrollTo({ top: cart.getBoundingClientRect().bottom + window.scrollY - window.innerHeight + 72, behavior: 'instant' });
  });
  await page.waitForFunction(() => window.scrollY > 0);
  await page.waitForFunction(() => document.getElementById('notice').hidden);
  const file = path.join(ARTIFACTS, 'screenshot-phone.png');
  await page.screenshot({ path: file });
  assert.equal(await page.textContent('#total-amount'), '210.15'); // 128.00 + 3×2.05 + 2×38.00
  if (process.env.TABLECART_DOCS_SCREENSHOT === '1') copyFileSync(file, path.join(REPO, 'docs/screenshot-phone.png'));
});
