// The page's scripts parse on the oldest browsers docs/web.md promises (the baseline): ES2017
// syntax. A newer construct (`??`, `?.`, object spread, `catch {}`, class fields, a regex flag
// or group of ES2018+) is a SyntaxError there, and a SyntaxError leaves the whole page blank
// rather than degraded. acorn is a real JavaScript parser; no browser is needed for this.
// app.css is read the same way for what the baseline lacks: there a declaration the browser does
// not know is dropped, so each newer one must follow a fallback of the same property.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'acorn';
import { WEB } from './harness.mjs';

/** The baseline's syntax (docs/web.md, Browser baseline). */
const ECMA_VERSION = 2017;

/** Parses `code` as a classic script at the baseline; the error says where, with the line. */
function parseAtBaseline(code, name) {
  try {
    parse(code, { ecmaVersion: ECMA_VERSION, sourceType: 'script', locations: true });
  } catch (e) {
    const line = e.loc ? code.split('\n')[e.loc.line - 1] : '';
    assert.fail(`${name}: not ES${ECMA_VERSION}: ${e.message}\n  ${line && line.trim()}`);
  }
}

test('web/app.js parses as ES2017', () => {
  parseAtBaseline(readFileSync(path.join(WEB, 'app.js'), 'utf8'), 'web/app.js');
});

test('the inline scripts of web/index.html parse as ES2017', () => {
  const html = readFileSync(path.join(WEB, 'index.html'), 'utf8');
  const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  assert.equal(inline.length, 1); // the "页面加载失败" guard; a new one is checked the same way
  inline.forEach((code, i) => parseAtBaseline(code, `web/index.html inline script ${i + 1}`));
});

test('the parser at ES2017 refuses what the baseline lacks (the check can fail)', () => {
  for (const code of ['a ?? b', 'a?.b', 'x = {...y}', 'try {} catch {}', 'class A { x = 1 }', '/a/s']) {
    assert.throws(() => parse(code, { ecmaVersion: ECMA_VERSION, sourceType: 'script' }), SyntaxError, code);
  }
  parse('async function f() { await 1; return 2 ** 3; }', { ecmaVersion: ECMA_VERSION, sourceType: 'script' });
});

/**
 * The declarations of `css` that the baseline would drop with nothing to fall back on: each is
 * `selector { property: value }` as written. A newer value (100dvh, min(), overflow-wrap:
 * anywhere) must follow a declaration of the same property in its rule; env() only inside
 * @supports (a custom property holding it would be invalid wherever it is used); inset and
 * aspect-ratio (Chrome 87/88, Safari 14.1/15) not at all.
 */
function unsupportedCss(css) {
  const bad = [];
  const plain = css.replace(/\/\*[\s\S]*?\*\//g, '');
  const supports = /@supports[^{]*\{([^{}]*\{[^{}]*\})*\s*\}/g;
  const outside = plain.replace(supports, '');
  for (const [, selector, body] of outside.matchAll(/([^{}]*)\{([^{}]*)\}/g)) {
    const decls = body
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => [d.slice(0, d.indexOf(':')).trim(), d.slice(d.indexOf(':') + 1).trim()]);
    decls.forEach(([prop, value], i) => {
      const newer = /\d[dsl]v[hwbi]\b/.test(value) || /\b(min|max|clamp)\(/.test(value) || (prop === 'overflow-wrap' && value === 'anywhere');
      const fallback = i > 0 && decls[i - 1][0] === prop;
      if ((newer && !fallback) || /env\(/.test(value) || prop === 'inset' || prop === 'aspect-ratio') bad.push(`${selector.trim()} { ${prop}: ${value} }`);
    });
  }
  return bad;
}

test('app.css: what the baseline lacks comes after a fallback (no inset, env() only under @supports)', () => {
  assert.deepEqual(unsupportedCss(readFileSync(path.join(WEB, 'app.css'), 'utf8')), []);
  // and the check finds each kind
  assert.deepEqual(unsupportedCss('a { inset: 0; height: 100dvh; width: min(1px, 2px) } b { height: 1vh; height: 100dvh; p: env(x) } @supports (x: env(y)) { :root { --s: env(y) } }'), [
    'a { inset: 0 }',
    'a { height: 100dvh }',
    'a { width: min(1px, 2px) }',
    'b { p: env(x) }',
  ]);
});
