// A name with direction controls (U+202E RIGHT-TO-LEFT OVERRIDE…) must not turn the rest of a line
// around: each name sits in its own <bdi>. The server refuses such names now; this one was stored
// before (written into the database directly), as an old table may still hold.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server, launch, diner, waitLine, openCart, shot } from './harness.mjs';

const RLO = '\u202e';
let server, browser, A;

before(async () => {
  server = await new Server().start();
  browser = await launch();
  // diner 4242 sits at table 125 as "‮张三" (before any stream of the table: read when first needed)
  server.sql('INSERT INTO diners (table_id, user_id, seat, name) VALUES (?, ?, ?, ?)', [125, 4242, 1, RLO + '张三']);
});

after(async () => {
  if (A) await shot(A, 'bidi');
  await browser?.close();
  await server?.close();
});

/**
 * The x of each listed character of an element's text as laid out (left edge), by its index in
 * textContent: in a left-to-right line they must come in this order.
 */
function xs(page, sel, indexes) {
  return page.evaluate(
    ([s, idx]) => {
      const root = document.querySelector(s);
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      const nodes = [];
      for (let n = walker.nextNode(), at = 0; n; n = walker.nextNode()) nodes.push([n, at, (at += n.data.length)]);
      return idx.map((i) => {
        const [n, start] = nodes.find(([, a, b]) => i >= a && i < b);
        const r = document.createRange();
        r.setStart(n, i - start);
        r.setEnd(n, i - start + 1);
        return r.getBoundingClientRect().left;
      });
    },
    [sel, indexes]
  );
}

const ascending = (a) => a.every((x, i) => i === 0 || x > a[i - 1]);

test('a name with U+202E does not reverse the other shares on the line', async () => {
  A = await diner(browser, server, { table: 125 });
  const me = await A.evaluate(() => window.__tablecart.userId);
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1001, quantity: 1, remark: RLO + '微辣' }, { 'X-User-Id': '4242' });
  await server.api('POST', '/store/order/cart/add', { tableId: 125, cuisineId: 1001, quantity: 12 }, { 'X-User-Id': String(me) });
  await waitLine(A, 1001, 13);
  await openCart(A);
  const sel = '#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-who';
  const text = await A.textContent(sel);
  assert.equal(text, RLO + '张三 1 份 · 我 12 份');
  assert.deepEqual(await A.locator(sel + ' bdi').allTextContents(), [RLO + '张三', '我']);
  // laid out left to right after the name: "1 份 · 我 1 2 份"
  const from = text.indexOf(' 1 份');
  const x = await xs(A, sel, [from + 1, from + 3, from + 5, from + 7, from + 9, from + 10, from + 12]);
  assert.ok(ascending(x), `not in order: ${x.join(', ')}`);
});

test('the remark question shows the name and the old remark isolated too', async () => {
  const input = A.locator('#cart-items .remark-input[data-cuisine-id="1001"]');
  await input.fill('不要葱');
  await input.press('Enter');
  await A.waitForSelector('#confirm-remark[open]');
  const sel = '#confirm-remark-text';
  const text = await A.textContent(sel);
  assert.equal(text, `这条备注是${RLO}张三写的：“${RLO}微辣”。`);
  assert.deepEqual(await A.locator(sel + ' bdi').allTextContents(), [RLO + '张三', RLO + '微辣']);
  const at = (s) => text.indexOf(s);
  const x = await xs(A, sel, [at('这'), at('是'), at('写'), at('的'), at('：'), at('“'), at('”'), at('。')]);
  assert.ok(ascending(x), `not in order: ${x.join(', ')}`);
  await A.click('#confirm-remark-cancel');
  assert.deepEqual(A.errors, []);
});
