// label-web.js — drives clipsort-label-web in headless Chromium (playwright-core).
// Environment: URL (server), TRUTH (truth.tsv of mkdata.py), LABELS (labels.tsv the
// server appends to), OUT (screenshot directory), HOSTILE (the hostile file name
// that is first in the queue).  Prints "ok NAME" / "FAIL NAME: why" lines that
// tests/t-label-web.sh counts; exits 1 on a failure it cannot go on from.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const { chromium } = require('playwright-core');

const BASE = process.env.URL, OUT = process.env.OUT;
const truth = new Map();
for (const line of fs.readFileSync(process.env.TRUTH, 'utf8').trim().split('\n').slice(1)) {
  const [, p, c] = line.split('\t');
  truth.set(p, c);
}
let failed = 0;
function ok(name) { console.log('ok   ' + name); }
function fail(name, why) { failed++; console.log('FAIL ' + name + ': ' + why); }
function check(name, cond, why) { if (cond) ok(name); else fail(name, why || 'condition false'); }
function labelLines() {
  if (!fs.existsSync(process.env.LABELS)) return [];
  return fs.readFileSync(process.env.LABELS, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
}
const keyOf = { packaged: '1', unpackaged: '2' };
// The page's CSP forbids eval, so waits poll from here instead of page.waitForFunction.
async function until(what, fn, timeout = 10000) {
  const t0 = Date.now();
  for (;;) {
    if (await fn()) return;
    if (Date.now() - t0 > timeout) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 40));
  }
}

(async () => {
  const udd = fs.mkdtempSync(path.join(os.tmpdir(), 'clipsort-chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: '/usr/bin/chromium', headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const cspErrors = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); });
  page.on('pageerror', (e) => fail('no page errors', e.message));
  const imgRequests = [];
  page.on('request', (r) => { const m = /\/img\/(\d+)$/.exec(r.url()); if (m) imgRequests.push(m[1]); });
  try {
    await page.goto(BASE);
    await page.fill('#login-name', 'ann');
    await page.press('#login-name', 'Enter');
    await page.waitForSelector('#img[data-id]', { state: 'attached' });
    check('logged in, name shown', (await page.textContent('#user')) === 'ann');
    await until('prefetch', async () => new Set(imgRequests).size >= 3, 5000).then(
      () => ok('next images prefetched (' + new Set(imgRequests).size + ' fetched, 1 shown)'),
      (e) => fail('next images prefetched', e.message + ': ' + imgRequests.join(',')));

    // the hostile file name is shown as text, never as markup
    const p0 = await page.textContent('#path');
    const injected = await page.$$eval('#path *', (els) => els.length);
    check('hostile file name shown literally', p0 === process.env.HOSTILE && injected === 0,
      JSON.stringify(p0) + ' children=' + injected);
    check('keys shown on screen', /1\s*packaged/.test(await page.textContent('#keys')) &&
      /2\s*unpackaged/.test(await page.textContent('#keys')));

    // skip moves on without a label
    const before = labelLines().length;
    const idHostile = await page.getAttribute('#img', 'data-id');
    await page.keyboard.press('s');
    await until('next image', async () => (await page.getAttribute('#img', 'data-id')) !== idHostile);
    check('skip advances without a label', labelLines().length === before);

    // label a run of 12 with the keyboard, by the true class
    const done = [];
    for (let i = 0; i < 12; i++) {
      const id = await page.getAttribute('#img', 'data-id');
      const p = await page.textContent('#path');
      const cls = truth.get(p);
      await page.keyboard.press(keyOf[cls]);
      await until('next image', async () => (await page.getAttribute('#img', 'data-id')) !== id);
      done.push({ id, p, cls });
      if (i === 0) {
        await until('image loaded', async () => page.$eval('#img', (e) => e.complete && e.naturalWidth > 0));
        await page.screenshot({ path: path.join(OUT, 'label-web.png') });
      }
    }
    const lines = labelLines();
    const got = lines.slice(-12).map((f) => f[2] + '=' + f[3]).join(',');
    const want = done.map((d) => d.p + '=' + d.cls).join(',');
    check('12 keyboard labels appended, in order, right classes', got === want, got + ' vs ' + want);
    check('labeller recorded', lines.slice(-12).every((f) => f[4] === 'ann'));

    // undo: the last label is retracted and its image comes back
    await page.keyboard.press('u');
    await until('undone image', async () => (await page.getAttribute('#img', 'data-id')) === done[11].id);
    const last = labelLines().slice(-1)[0];
    check('undo retracts the last label', last[2] === done[11].p && last[3] === '-', last.join(' '));
    await page.keyboard.press(keyOf[done[11].cls]);
    await until('next image', async () => (await page.getAttribute('#img', 'data-id')) !== done[11].id);
    check('relabel after undo', labelLines().slice(-1)[0][3] === done[11].cls);

    // undo stays possible for earlier decisions: the history lists the last ones
    check('history lists the last decisions', (await page.$$('#history li')).length === 10);

    // an earlier decision stays editable: open it from the history and relabel it
    const hist = await page.$$('#history li');
    const third = await hist[2].textContent();     // newest first: done[9]
    await hist[2].click();
    await until('reopened', async () => (await page.getAttribute('#img', 'data-id')) === done[9].id);
    const other = done[9].cls === 'packaged' ? 'unpackaged' : 'packaged';
    const nBefore = labelLines().length;
    await page.keyboard.press(keyOf[other]);
    await until('relabelled', async () => labelLines().length > nBefore);
    const rl = labelLines().slice(-1)[0];
    check('history entry reopened and relabelled', rl[2] === done[9].p && rl[3] === other, third + ' -> ' + rl.join(' '));
    await until('moved on', async () => (await page.getAttribute('#img', 'data-id')) !== done[9].id);

    // the retrain after 10 labels shows up without a reload
    await until('retrain', async () => Number(await page.getAttribute('#model', 'data-retrains')) >= 2, 20000).then(() => ok('retrain after 10 labels shown'),
      (e) => fail('retrain after 10 labels shown', e.message));
    await page.screenshot({ path: path.join(OUT, 'label-web-retrained.png') });
    const model = await page.textContent('#model');
    console.log('# model line: ' + model);
    if (process.env.HAVE_TRAIN === '1') {
      await until('a classifier', async () => /CV accuracy \d/.test(await page.textContent('#model')), 20000)
        .then(() => ok('classifier trained in the background, CV accuracy shown'),
          (e) => fail('classifier trained in the background', e.message + ': ' + model));
      await until('prediction shown', async () => /^(packaged|unpackaged) \d/.test(await page.textContent('#pred')), 10000)
        .then(() => ok('prediction shown for the image'), (e) => fail('prediction shown', e.message));
      await page.screenshot({ path: path.join(OUT, 'label-web-retrained.png') });
    }

    // flag
    const fid = await page.getAttribute('#img', 'data-id');
    await page.keyboard.press('f');
    await until('next image', async () => (await page.getAttribute('#img', 'data-id')) !== fid);
    ok('flag advances');

    // fast typing: keys pressed before the answers come are all applied, in order,
    // each to its own image
    const nFast = labelLines().length;
    await page.keyboard.press('1');
    await page.keyboard.press('2');
    await page.keyboard.press('1');
    await until('three fast labels', async () => labelLines().length >= nFast + 3);
    const fast = labelLines().slice(nFast);
    check('fast typing: 3 keys, 3 images, 3 labels in order', fast.length === 3 &&
      new Set(fast.map((f) => f[1])).size === 3 && fast.map((f) => f[3]).join() === 'packaged,unpackaged,packaged',
      fast.map((f) => f.join(' ')).join(' | '));

    // review mode: lowest confidence first, a key corrects the selected tile
    await page.keyboard.press('r');
    await page.waitForSelector('#review-grid .tile');
    const confs = await page.$$eval('#review-grid .tile .cap', (els) => els.map((e) => parseFloat(e.textContent.split(' ').find((w) => w.endsWith('%')))));
    check('review ordered by confidence, lowest first', confs.every((c, i) => i === 0 || confs[i - 1] <= c), confs.join(','));
    const tile = await page.$('#review-grid .tile');
    const tid = await tile.getAttribute('data-id');
    await tile.click();
    const n0 = labelLines().length;
    await page.keyboard.press('2');
    await page.waitForSelector('#review-grid .tile.corrected');
    const corr = labelLines();
    check('review correction appended', corr.length === n0 + 1 && corr[corr.length - 1][3] === 'unpackaged',
      corr[corr.length - 1].join(' '));
    const item = await (await page.request.get(new URL('/api/item?id=' + tid, BASE).href)).json();
    check('review correction is the current label', item.label === 'unpackaged');
    // a click corrects too: select the second tile, click a class button
    const tiles = await page.$$('#review-grid .tile');
    if (tiles.length > 1) {
      const t2 = await tiles[1].getAttribute('data-id');
      await tiles[1].click();
      const n1 = labelLines().length;
      await page.click('#review-keys button[data-cls="unpackaged"]');
      await until('click correction', async () => labelLines().length > n1);
      // the tile is marked when the answer reaches the page, which can be after the
      // server's append is visible in the log
      await until('click correction shown', async () =>
        (await page.$$('#review-grid .tile.corrected')).length === 2).catch(() => {});
      const it2 = await (await page.request.get(new URL('/api/item?id=' + t2, BASE).href)).json();
      check('review: a click on a class corrects the selected image', it2.label === 'unpackaged' &&
        (await page.$$('#review-grid .tile.corrected')).length === 2);
    }
    await page.screenshot({ path: path.join(OUT, 'label-web-review.png') });
    check('no CSP violations', cspErrors.length === 0, cspErrors.join('; '));
  } catch (e) {
    fail('browser run', e.stack || String(e));
    try { await page.screenshot({ path: path.join(OUT, 'label-web-failure.png') }); } catch (e2) { /* ignore */ }
  }
  await ctx.close();
  fs.rmSync(udd, { recursive: true, force: true });
  process.exit(failed ? 1 : 0);
})();
