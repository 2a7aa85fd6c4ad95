// Names, remarks and table numbers from the server are text, never markup: a dish called
// <img src=x onerror=...> shows literally and runs nothing, on the adder's phone and on the others.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, lineText, lineRemark, dish, shot } from './harness.mjs';

const EVIL = '<img src=x onerror="window.__xss=1">';
const EVIL_REMARK = '<img src=x onerror="window.__xss=3"><script>window.__xss=4</script>';
let server, browser, A, B;

before(async () => {
  server = await new Server().start();
  browser = await launch();
});

after(async () => {
  if (A) await shot(A, 'xss-A');
  if (B) await shot(B, 'xss-B');
  await browser?.close();
  await server?.close();
});

test('dish names, remarks and the table number are shown literally and run nothing', async () => {
  A = await diner(browser, server, { table: 201 });
  B = await diner(browser, server, { table: 201, transport: 'ws' });
  assert.equal(await A.textContent('#table-number'), '<b>X01</b>');
  assert.equal(await dish(A, 3001).locator('.dish-name').textContent(), EVIL);

  await dish(A, 3001).locator('.btn-add').click();
  await waitLine(A, 3001, 1);
  // another phone writes the remark (the seed's add with remark)
  await server.api('POST', '/store/order/cart/add', { tableId: 201, cuisineId: 3001, quantity: 1, remark: EVIL_REMARK });
  await waitLine(A, 3001, 2);
  await waitLine(B, 3001, 2); // pushed over the WebSocket to B
  // B adds too (over its socket), A gets it over SSE
  await dish(B, 3002).locator('.btn-add').click();
  await waitLine(A, 3002, 1);

  for (const p of [A, B]) {
    assert.equal(await lineText(p, 3001, '.cart-line-name'), EVIL);
    assert.equal(await lineRemark(p, 3001), EVIL_REMARK);
    // nothing the server sent became an element or an attribute
    assert.equal(await p.locator('[onerror]').count(), 0);
    assert.equal(await p.locator('#app img[src="x"], #app b, #app script').count(), 0);
    // the broken image URL of the evil dish ended up as the placeholder, not as markup
    await p.waitForFunction(() => document.querySelector('.dish[data-cuisine-id="3001"] img').src.endsWith('/img/placeholder.svg'));
    assert.equal(await p.evaluate(() => window.__xss), undefined);
    assert.deepEqual(p.errors, []);
  }
});
