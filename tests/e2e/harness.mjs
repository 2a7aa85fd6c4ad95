// Shared helpers for the browser tests: start the real tablecart binary, drive Debian's Chromium
// through playwright-core, and wait for page states (never for fixed amounts of time).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const BIN = process.env.TABLECART_BIN || path.join(REPO, 'build/tablecart');
export const WEB = path.join(REPO, 'web');
export const MENU = path.join(HERE, 'menu.json');
/** The bundled demo menu, as `make run` shows it (categories, pictures in web/img). */
export const DEMO_MENU = path.join(REPO, 'data/demo-menu.json');
export const ARTIFACTS = path.join(HERE, 'artifacts');

/** How long a change may take to show on another phone before a test gives up. */
export const LIVE_MS = 5000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The real server on 127.0.0.1, a fresh SQLite database in a temp dir, our test menu. */
export class Server {
  /**
   * extraWeb: files or folders (absolute paths) served next to web/ — the server then serves a
   * temp copy of web/ with them added, so a test page is a real static file of the real server.
   */
  constructor({ menu = MENU, args = [], extraWeb = [], auth = 'none', env = {} } = {}) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'tablecart-e2e-'));
    this.web = WEB;
    if (extraWeb.length) {
      this.web = path.join(this.dir, 'web');
      cpSync(WEB, this.web, { recursive: true });
      for (const f of extraWeb) cpSync(f, path.join(this.web, path.basename(f)), { recursive: true });
    }
    this.db = path.join(this.dir, 't.db');
    this.menu = menu;
    this.args = args;
    this.auth = auth; // 'jwt': the secret comes from env.TABLECART_JWT_SECRET
    this.env = env;
    this.proc = null;
    this.port = 0;
    this.url = null;
    this.stderr = '';
  }

  /** Starts the binary; resolves once its first stdout line names the port it listens on. */
  async start(port = 0) {
    const args = ['serve', '--listen', `127.0.0.1:${port}`, '--store', `sqlite:${this.db}`, '--web', this.web, '--auth', this.auth];
    if (this.menu) args.push('--menu', this.menu);
    args.push(...this.args);
    const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    this.proc = proc;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    proc.exited = new Promise((resolve) => proc.once('exit', (code, sig) => resolve({ code, sig })));
    proc.exited.then(({ code, sig }) => {
      // a server that dies on its own (crash, sanitizer report) says why in the test output
      if (!proc.stopping && this.url) console.error(`tablecart exited by itself (${code ?? sig}):\n${this.stderr.slice(-4000)}`);
    });
    const line = await new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`tablecart did not print its address within 10 s\n${this.stderr}`)), 10000);
      proc.stdout.setEncoding('utf8');
      const onData = (d) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          proc.stdout.off('data', onData);
          proc.stdout.resume(); // keep draining so the server never blocks on a full pipe
          resolve(buf.slice(0, nl));
        }
      };
      proc.stdout.on('data', onData);
      proc.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      proc.exited.then(({ code, sig }) => {
        clearTimeout(timer);
        reject(new Error(`tablecart exited (${code ?? sig}) before listening: ${args.join(' ')}\n${this.stderr}`));
      });
    });
    const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(line);
    if (!m) throw new Error(`unexpected first line from tablecart: ${line}`);
    this.url = m[1];
    this.port = Number(m[2]);
    return this;
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
  async stop(signal = 'SIGTERM') {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.stopping = true;
    proc.kill(signal);
    const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await proc.exited;
    clearTimeout(killer);
  }

  /** Stops and starts again on the same port and database (the port may take a moment to free). */
  async restart(signal = 'SIGTERM') {
    const port = this.port;
    await this.stop(signal);
    let lastErr;
    for (let i = 0; i < 50; i++) {
      try {
        return await this.start(port);
      } catch (e) {
        lastErr = e;
        await new Promise((r) => setTimeout(r, 100)); // retrying a bind, not waiting for the page
      }
    }
    throw lastErr;
  }

  async close() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * `tablecart menu import FILE` against this server's database while it runs (another process,
   * as an operator would do it). Throws with the command's stderr if it fails.
   */
  importMenu(file) {
    const p = spawnSync(BIN, ['menu', 'import', file, '--store', `sqlite:${this.db}`], { encoding: 'utf8', timeout: 20000 });
    if (p.status !== 0) throw new Error(`menu import failed (${p.status}): ${p.stderr}`);
  }

  /** `tablecart token …` signed with this server's secret (--auth jwt): what a QR code carries. */
  token(...args) {
    const p = spawnSync(BIN, ['token', ...args], { encoding: 'utf8', timeout: 10000, env: { ...process.env, ...this.env } });
    if (p.status !== 0) throw new Error(`token failed (${p.status}): ${p.stderr}`);
    return p.stdout.trim();
  }

  /**
   * Runs one SQL statement with parameters on this server's database (Python's sqlite3, as the
   * integration tests have it): for stored states the API refuses to create.
   */
  sql(statement, params = []) {
    const code = 'import sqlite3,sys,json\nc=sqlite3.connect(sys.argv[1],timeout=10)\nc.execute(sys.argv[2],json.loads(sys.argv[3]))\nc.commit()';
    const p = spawnSync('/usr/bin/python3', ['-c', code, this.db, statement, JSON.stringify(params)], { encoding: 'utf8', timeout: 20000 });
    if (p.status !== 0) throw new Error(`sql failed (${p.status}): ${p.stderr}`);
  }

  /** Calls the REST API as some other diner (a phone we do not drive). */
  async api(method, p, body, headers = {}) {
    const init = { method, headers: { 'X-User-Id': '777', ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(this.url + '/api' + p, init);
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_) {
      /* not JSON */
    }
    if (!res.ok) throw new Error(`${method} ${p} → ${res.status} ${text}`);
    return json;
  }
}

export async function launch() {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * One diner: a fresh browser context (own localStorage, so own diner id) on a phone-sized
 * viewport (390×844 unless `viewport` says), with the page's console errors collected for
 * failure reports.
 */
export async function diner(browser, server, { table = 123, transport = null, query = '', setup = null, wait = true, scale = 1, viewport = { width: 390, height: 844 } } = {}) {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: scale,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
  });
  context.setDefaultTimeout(10000);
  // The page must never reach outside this machine (dish pictures of a real menu would).
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  if (setup) await setup(page, context);
  let q = `?table=${table}`;
  if (transport) q += `&transport=${transport}`;
  q += query;
  await page.goto(server.url + '/' + q);
  if (wait) await waitConnected(page);
  return page;
}

export function waitConnected(page, timeout = 15000) {
  return page.waitForFunction(() => document.getElementById('conn-state')?.dataset.state === 'connected', null, { timeout });
}

export function waitState(page, state, timeout = 15000) {
  return page.waitForFunction((s) => document.getElementById('conn-state')?.dataset.state === s, state, { timeout });
}

/** The page's time (its clock may be the test's: `page.clock`). */
export const pageNow = (page) => page.evaluate(() => Date.now());

/** Runs a page clock stopped with `page.clock.pauseAt` on to page time `t`. */
export const runTo = async (page, t) => page.clock.runFor(t - (await pageNow(page)));

/** Waits until the cart shows line `id` with quantity `qty` (0: the line is gone). */
export function waitLine(page, id, qty, timeout = LIVE_MS) {
  return page.waitForFunction(
    ([i, q]) => {
      const li = document.querySelector(`#cart-items .cart-line[data-cuisine-id="${i}"]`);
      return q === 0 ? li === null : li !== null && li.dataset.quantity === String(q);
    },
    [id, qty],
    { timeout }
  );
}

/** Waits until the cart shows exactly these lines, e.g. {1001: 2, 1004: 1}. */
export function waitCart(page, lines, timeout = LIVE_MS) {
  return page.waitForFunction(
    (want) => {
      const got = {};
      for (const li of document.querySelectorAll('#cart-items .cart-line')) got[li.dataset.cuisineId] = Number(li.dataset.quantity);
      return JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(want).map(([k, v]) => [String(k), v]).sort());
    },
    lines,
    { timeout }
  );
}

/** Waits until menu section `n`'s heading stands just below the top bar (at most 8 px): a rail tap's end. */
export function waitHeadingBelowBar(page, n, timeout = 5000) {
  return page.waitForFunction(
    (i) => {
      const h = document.querySelectorAll('#menu-groups .menu-group-title')[i].getBoundingClientRect();
      const bar = document.getElementById('topbar').getBoundingClientRect().bottom;
      return h.top >= bar && h.top <= bar + 8;
    },
    n,
    { timeout }
  );
}

/** Opens the cart drawer from the bottom bar (its lines are only tappable while it is open). */
export async function openCart(page) {
  if (await page.isHidden('#cart')) await page.click('#cart-open');
  await page.waitForSelector('#cart', { state: 'visible' });
  await page.waitForFunction(() => document.getElementById('cart').getAnimations().length === 0); // risen
}

export async function closeCart(page) {
  if (await page.isVisible('#cart')) await page.click('#cart-close');
  await page.waitForSelector('#cart', { state: 'hidden' });
}

/** A cart line's remark as its in-place field shows it. */
export function lineRemark(page, id) {
  return page.locator(`#cart-items .cart-line[data-cuisine-id="${id}"] .remark-input`).inputValue();
}

export function lineText(page, id, sel) {
  return page.locator(`#cart-items .cart-line[data-cuisine-id="${id}"] ${sel}`).textContent();
}

export function dish(page, id) {
  return page.locator(`#menu-groups .dish[data-cuisine-id="${id}"]`);
}

export async function shot(page, name) {
  try {
    await page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });
  } catch (_) {
    /* a screenshot is a bonus, never the failure */
  }
}

/** The end of a test file: a screenshot of each page it kept (`name-0.png`, ...), then its
 * browser and its server. */
export async function finish(name, pages, browser, server) {
  for (const [i, p] of pages.entries()) await shot(p, `${name}-${i}`);
  await browser?.close();
  await server?.close();
}
