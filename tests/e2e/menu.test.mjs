// The demo menu as shipped, on phones (390×844): the category rail (lit item, headings never under
// the top bar), per-dish steppers, the cart bar and drawer with the total, tap targets of at least
// 44 px, the favicon, pictures only from the server itself, Chinese punctuation and no technical
// words in what diners read, and the ?transport= debug parameter. Page-only: these need nothing
// beyond the seed's API from the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Server, launch, diner, waitCart, waitLine, waitHeadingBelowBar, dish, openCart, shot, DEMO_MENU, WEB } from './harness.mjs';

let server, browser, A, B;
const requests = []; // every URL any page asked for

before(async () => {
  server = await new Server({ menu: DEMO_MENU }).start();
  browser = await launch();
});

after(async () => {
  if (A) await shot(A, 'menu-A');
  if (B) await shot(B, 'menu-B');
  await browser?.close();
  await server?.close();
});

const logRequests = (page) => page.on('request', (r) => requests.push(r.url()));
const CATEGORIES = ['热菜', '凉菜', '汤羹', '主食', '甜品', '饮品', '套餐'];

/** Boxes of the top bar, the bottom bar and a section's heading, as the page lays them out now. */
function boxes(page, i) {
  return page.evaluate((n) => {
    const r = (e) => {
      const b = e.getBoundingClientRect();
      return { top: b.top, bottom: b.bottom, height: b.height };
    };
    return {
      bar: r(document.getElementById('topbar')),
      bottom: r(document.getElementById('bottombar')),
      heading: r(document.querySelectorAll('#menu-groups .menu-group-title')[n]),
      active: [...document.querySelectorAll('#menu-rail .rail-item[aria-current="true"]')].map((b) => b.textContent),
      lit: [...document.querySelectorAll('#menu-rail .rail-item.active')].map((b) => b.textContent),
    };
  }, i);
}

test('the category rail: the demo menu\'s sections, the tapped one lit, its heading just below the top bar', async () => {
  A = await diner(browser, server, { table: 123, setup: logRequests });
  assert.deepEqual(await A.locator('#menu-rail .rail-item').allTextContents(), CATEGORIES);
  assert.deepEqual(await A.locator('#menu-groups .menu-group-title').allTextContents(), CATEGORIES);
  assert.deepEqual((await boxes(A, 0)).active, ['热菜']);
  // the rail sits on the left, beside the dishes
  const rail = await A.locator('#menu-rail').boundingBox();
  const list = await A.locator('#menu-groups').boundingBox();
  assert.equal(rail.x, 0);
  assert.ok(rail.x + rail.width <= list.x, `rail ${JSON.stringify(rail)} list ${JSON.stringify(list)}`);

  // tap every category, last first (the longest scroll), then back to the first
  for (const i of [6, 3, 1, 5, 2, 4, 0]) {
    await A.locator('#menu-rail .rail-item').nth(i).click();
    await waitHeadingBelowBar(A, i);
    const b = await boxes(A, i);
    assert.ok(b.heading.top >= b.bar.bottom, `${CATEGORIES[i]}: heading top ${b.heading.top} under the top bar (bottom ${b.bar.bottom})`);
    assert.ok(b.heading.bottom <= b.bottom.top, `${CATEGORIES[i]}: heading under the bottom bar`);
    assert.ok(b.heading.height > 0);
    // the tapped category is the lit one, and stays lit once the scroll has settled
    await A.waitForFunction(() => document.querySelectorAll('#menu-rail .rail-item.active').length === 1);
    assert.deepEqual((await boxes(A, i)).active, [CATEGORIES[i]]);
    assert.deepEqual((await boxes(A, i)).lit, [CATEGORIES[i]]);
  }
});

test('scrolling the dishes lights the section whose heading passed under the top bar', async () => {
  for (const [i, into] of [[3, 120], [1, 10], [6, 0], [0, 0]]) {
    await A.evaluate(
      ([n, px]) => {
        const h = document.querySelectorAll('#menu-groups .menu-group-title')[n];
        const top = h.getBoundingClientRect().top + scrollY - document.getElementById('topbar').getBoundingClientRect().bottom;
        scrollTo({ top: top + px, behavior: 'instant' });
      },
      [i, into]
    );
    await A.waitForFunction((name) => document.querySelector('#menu-rail .rail-item.active')?.textContent === name, CATEGORIES[i], { timeout: 3000 });
  }
});

test('per-dish steppers: + then − n +, sold-out dishes cannot be added; a second diner sees the counts', async () => {
  B = await diner(browser, server, { table: 123, transport: 'ws', setup: logRequests });
  const d = dish(A, 1003);
  assert.equal(await d.locator('.btn-minus').count(), 0);
  await d.getByRole('button', { name: '加入 麻婆豆腐' }).click();
  await waitLine(A, 1003, 1);
  assert.equal(await d.locator('.qty').textContent(), '1');
  assert.equal(await d.locator('.btn-minus').count(), 1);
  await d.locator('.btn-plus').click();
  await waitLine(A, 1003, 2);
  await waitLine(B, 1003, 2);
  assert.equal(await dish(B, 1003).locator('.qty').textContent(), '2');
  assert.equal(await A.textContent('#bar-quantity'), '2');
  assert.equal(await B.textContent('#bar-amount'), '45.00');
  await dish(B, 1003).locator('.btn-minus').click();
  await waitLine(A, 1003, 1);
  await dish(A, 1003).locator('.btn-minus').click();
  await waitLine(B, 1003, 0);
  assert.equal(await dish(B, 1003).locator('.btn-minus').count(), 0);
  assert.equal(await dish(B, 1003).locator('.btn-add').count(), 1);
  // 夫妻肺片 is sold out in the demo: marked, greyed, its + disabled
  const sold = dish(A, 1006);
  assert.equal(await sold.locator('.sold-out-badge').textContent(), '已售罄');
  assert.equal(await sold.locator('button').count(), 1);
  assert.equal(await sold.locator('button').isDisabled(), true);
  assert.match(await sold.getAttribute('class'), /\bsold-out\b/);
});

test('the bottom cart bar opens the cart drawer with the lines and the total; ×, the backdrop and Esc close it', async () => {
  await dish(A, 1001).locator('.btn-add').click();
  await dish(B, 1013).locator('.btn-add').click();
  await waitCart(A, { 1001: 1, 1013: 1 });
  await dish(A, 1001).locator('.btn-plus').click();
  await waitCart(B, { 1001: 2, 1013: 1 });
  assert.equal(await A.isVisible('#cart'), false);
  assert.equal((await A.textContent('#cart-open')).replace(/\s+/g, ' ').trim(), '3 购物车 合计 ¥78.00 查看');
  await openCart(A);
  assert.equal(await A.getAttribute('#cart-open', 'aria-expanded'), 'true');
  assert.equal(await A.locator('#cart-items .cart-line').count(), 2);
  assert.equal((await A.textContent('#cart-totals')).replace(/\s+/g, ' ').trim(), '共 3 份，合计 ¥78.00');
  assert.equal(await A.locator('#cart-items .cart-line[data-cuisine-id="1001"] .cart-line-subtotal').textContent(), '¥76.00');
  assert.equal(await A.locator('#cart-items .remark-label').first().textContent(), '备注：');
  // the drawer sits above the bar, fully on screen
  const drawer = await A.locator('#cart').boundingBox();
  const bar = await A.locator('#bottombar').boundingBox();
  assert.ok(drawer.y >= 0 && drawer.y + drawer.height <= bar.y + 1, `drawer ${JSON.stringify(drawer)} bar ${JSON.stringify(bar)}`);
  await A.click('#cart-close');
  await A.waitForSelector('#cart', { state: 'hidden' });
  await A.click('#cart-open');
  await A.waitForSelector('#cart', { state: 'visible' });
  await A.mouse.click(195, 120); // the dimmed menu above the drawer
  await A.waitForSelector('#cart', { state: 'hidden' });
  await openCart(A);
  await A.keyboard.press('Escape');
  await A.waitForSelector('#cart', { state: 'hidden' });
});

/** Every visible button, link and field of the page, with its size. */
function targets(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('button, a[href], input, select, textarea, [role="button"]')]
      .filter((e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden')
      .map((e) => {
        const r = e.getBoundingClientRect();
        return { what: `#${e.id} .${e.className} ${(e.getAttribute('aria-label') || e.textContent).trim()}`, w: r.width, h: r.height };
      })
  );
}

test('every button, link and field is at least 44×44 px (menu, drawer, dialog)', async () => {
  const seen = [];
  const check = async (page, where) => {
    const list = await targets(page);
    assert.ok(list.length > 0, where);
    for (const t of list) {
      seen.push(t);
      assert.ok(t.w >= 43.99 && t.h >= 43.99, `${where}: ${t.what} is ${t.w}×${t.h}`); // layout rounding
    }
  };
  await check(A, 'menu');
  await openCart(A);
  await check(A, 'drawer');
  await A.click('#clear-cart');
  await A.waitForSelector('#confirm-clear[open]');
  await check(A, 'clear dialog');
  await A.click('#confirm-clear-cancel');
  await A.waitForSelector('#confirm-clear', { state: 'hidden' });
  await A.click('#cart-close');
  await A.waitForSelector('#cart', { state: 'hidden' });
  for (const k of ['rail-item', 'btn-add', 'btn-plus', 'btn-minus', 'bottombar-cart', 'btn-close', 'btn-remove', 'remark-input', 'btn-remark-save']) {
    assert.ok(seen.some((t) => t.what.includes(k)), `${k} was measured`);
  }
});

test('the favicon is served and linked; every picture comes from the server itself', async () => {
  const href = await A.evaluate(() => document.querySelector('link[rel="icon"]').href);
  assert.equal(href, server.url + '/favicon.svg');
  const fav = await fetch(href);
  assert.equal(fav.status, 200);
  assert.match(fav.headers.get('content-type'), /^image\/svg\+xml/);
  assert.match(await fav.text(), /^<svg /);

  // every dish of the demo has its own picture under /img/, served as SVG
  const menu = await A.evaluate(() => window.__tablecart.menu);
  assert.ok(menu.length >= 14);
  const pics = new Set(menu.map((c) => c.cuisineImage));
  assert.equal(pics.size, menu.length, 'one picture per dish');
  for (const src of pics) {
    assert.match(src, /^\/img\/[a-z0-9-]+\.svg$/);
    const r = await fetch(server.url + src);
    assert.equal(r.status, 200, src);
    assert.match(r.headers.get('content-type'), /^image\/svg\+xml/, src);
    assert.doesNotMatch(await r.text(), /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${src} refers to another site`);
  }
  // on the page: every <img> points at this server; scroll through so lazy pictures load too
  await A.evaluate(() => scrollTo({ top: document.body.scrollHeight, behavior: 'instant' }));
  await A.waitForFunction(() => [...document.querySelectorAll('#menu-groups img')].every((i) => i.complete && i.naturalWidth > 0), null, { timeout: 10000 });
  const srcs = await A.evaluate(() => [...document.images].map((i) => i.src));
  assert.ok(srcs.length >= 14);
  for (const s of srcs) assert.ok(s.startsWith(server.url + '/img/') && !s.endsWith('/placeholder.svg'), s);
  // nothing any page asked for went elsewhere, and the shipped files name no other site
  assert.ok(requests.length > 0);
  for (const u of requests) assert.ok(u.startsWith(server.url + '/') || u.startsWith(server.url.replace('http', 'ws') + '/'), u);
  for (const f of ['index.html', 'app.js', 'app.css', ...readdirSync(path.join(WEB, 'img')).map((n) => 'img/' + n)]) {
    const text = readFileSync(path.join(WEB, f), 'utf8');
    assert.doesNotMatch(text, /(https?:)?\/\/(?!www\.w3\.org\/2000\/svg)[a-z0-9-]+\.[a-z]{2,}\//i, `${f} names another site`);
  }
  await A.evaluate(() => scrollTo({ top: 0, behavior: 'instant' }));
});

// Half-width punctuation right next to a Chinese character: 共 5 份,合计 / 备注:微辣 / 吗?
const HALF_WIDTH = /[\u3400-\u9fff][,:;?!()]|[,:;?!()][\u3400-\u9fff]/;

/** All the text a diner can meet on the page now: text nodes (hidden ones too: dialogs, toasts), labels, placeholders. */
function pageTexts(page) {
  return page.evaluate(() => {
    const out = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (['SCRIPT', 'STYLE', 'NOSCRIPT'].includes(n.parentElement.tagName)) continue;
      if (n.textContent.trim()) out.push(n.textContent.trim());
    }
    for (const e of document.querySelectorAll('[aria-label], [placeholder], [title]'))
      for (const a of ['aria-label', 'placeholder', 'title']) if (e.getAttribute(a)) out.push(e.getAttribute(a));
    out.push(document.title);
    return out;
  });
}

test('page texts use full-width punctuation and no technical words; the shipped texts say it right', async () => {
  for (const p of [A, B]) {
    const texts = await pageTexts(p);
    for (const t of texts) assert.doesNotMatch(t, HALF_WIDTH, `half-width punctuation in “${t}”`);
    const visible = await p.evaluate(() => document.body.innerText);
    assert.doesNotMatch(visible, /SSE|WebSocket|\bWS\b|轮询|HTTP|JSON|transport|version/i, visible);
    assert.equal(await p.textContent('#conn-state'), '已同步');
    assert.ok(texts.includes('确定要清空购物车吗？'), 'the clear question');
    assert.ok(texts.includes('将清空本桌的购物车，同桌的人都会看到。'), 'one shared cart, said plainly');
    assert.ok(texts.includes('购物车还是空的，快去点菜吧'));
  }
  // the page's own strings, in the source: every string literal with Chinese in it
  for (const f of ['app.js', 'index.html']) {
    const src = readFileSync(path.join(WEB, f), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/(^|\s)\/\/.*$/gm, '$1')
      .replace(/<!--[\s\S]*?-->/g, '');
    const literals = src.match(/'[^'\n]*'|"[^"\n]*"|`[^`]*`|>[^<>]+</g) || [];
    const chinese = literals.filter((l) => /[\u3400-\u9fff]/.test(l));
    assert.ok(chinese.length > 30, f);
    for (const l of chinese) assert.doesNotMatch(l.replace(/\$\{[^}]*\}/g, 'x'), HALF_WIDTH, `${f}: ${l}`);
  }
  // the full-page messages too
  const C = await diner(browser, server, { table: 'abc', wait: false });
  await C.waitForSelector('#fatal:not([hidden])');
  for (const t of await pageTexts(C)) assert.doesNotMatch(t, HALF_WIDTH, `half-width punctuation in “${t}”`);
  assert.equal(await C.textContent('#fatal-message'), '“abc”不是有效的桌号，请重新扫描餐桌上的二维码。');
  await C.context().close();
});

test('the transport is a debug parameter: ?transport=ws|poll|sse, no control for diners', async () => {
  const seen = async (transport) => {
    const log = { ws: 0, sse: 0, poll: 0 };
    const P = await diner(browser, server, {
      table: 124,
      transport,
      setup: (page) => {
        page.on('websocket', () => log.ws++);
        page.on('request', (r) => {
          if (/\/api\/store\/order\/sse\/124\?/.test(r.url())) log.sse++;
          if (/\/api\/store\/order\/cart\/124$/.test(r.url())) log.poll++;
        });
      },
    });
    if (transport === 'poll') await P.waitForFunction(() => performance.getEntriesByType('resource').filter((e) => /\/cart\/124$/.test(e.name)).length >= 3);
    const got = await P.evaluate(() => window.__tablecart.transport);
    assert.equal(await P.locator('.transport-toggle, [data-transport] button, button[data-transport]').count(), 0);
    assert.equal(await P.textContent('#conn-state'), '已同步');
    await P.context().close();
    return { got, log };
  };
  let r = await seen(null);
  assert.equal(r.got, 'sse');
  assert.ok(r.log.sse >= 1 && r.log.ws === 0, JSON.stringify(r.log));
  r = await seen('ws');
  assert.equal(r.got, 'ws');
  assert.ok(r.log.ws >= 1 && r.log.sse === 0, JSON.stringify(r.log));
  r = await seen('poll');
  assert.equal(r.got, 'poll');
  assert.ok(r.log.ws === 0 && r.log.sse === 0 && r.log.poll >= 3, JSON.stringify(r.log));
  r = await seen('SSE');
  assert.equal(r.got, 'sse');
  for (const p of [A, B]) assert.deepEqual(p.errors, []);
});
