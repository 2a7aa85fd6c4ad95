// A phone-sized screenshot of the demo as shipped (data/demo-menu.json, its pictures), with a few
// dishes in the shared cart, saved under artifacts/ (and, with TABLECART_DOCS_SCREENSHOT=1, as
// docs/screenshot-phone.png for the README and docs/web.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { Server, launch, diner, waitCart, dish, ARTIFACTS, REPO, DEMO_MENU } from './harness.mjs';

let server, browser;

before(async () => {
  server = await new Server({ menu: DEMO_MENU }).start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('phone screenshot (390×844) of the demo menu with a few dishes in the cart', async () => {
  // somebody else at the table already ordered two things
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1015, quantity: 1 }, { 'X-User-Id': '100' });
  await server.api('POST', '/store/order/cart/add', { tableId: 123, cuisineId: 1013, quantity: 2, remark: '一碗少饭' }, { 'X-User-Id': '100' });
  const page = await diner(browser, server, { table: 123 });
  await dish(page, 1001).getByRole('button', { name: '加入 宫保鸡丁' }).click();
  await waitCart(page, { 1015: 1, 1013: 2, 1001: 1 });
  await dish(page, 1001).locator('.btn-plus').click();
  await waitCart(page, { 1015: 1, 1013: 2, 1001: 2 });
  // every picture on screen has loaded (the ones below are lazy)
  await page.waitForFunction(() =>
    [...document.images].every((i) => i.getBoundingClientRect().top > innerHeight || (i.complete && i.naturalWidth > 0))
  );
  await page.waitForFunction(() => document.getElementById('notice').hidden);
  const file = path.join(ARTIFACTS, 'screenshot-phone.png');
  await page.screenshot({ path: file });
  assert.equal(await page.textContent('#bar-amount'), '92.00'); // 12.00 + 2×2.00 + 2×38.00
  assert.equal(await page.textContent('#bar-quantity'), '5');
  if (process.env.TABLECART_DOCS_SCREENSHOT === '1') copyFileSync(file, path.join(REPO, 'docs/screenshot-phone.png'));
});
