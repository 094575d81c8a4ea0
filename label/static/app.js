// clipsort-label-web page.  Everything from the server is inserted with textContent,
// never as HTML; state-changing requests are POSTs with the session's CSRF token.
'use strict';

const $ = (id) => document.getElementById(id);
const S = {
  csrf: null, user: null, classes: [], items: [], stats: null,
  mode: 'label', review: [], sel: 0, busy: false,
};

function subId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function status(msg, error) {
  const s = $('status');
  s.textContent = msg;
  s.className = error ? 'error' : '';
}

async function api(path, body) {
  const opt = body === undefined ? { credentials: 'same-origin' } : {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': S.csrf || '' },
    body: JSON.stringify(body),
  };
  const r = await fetch(path, opt);
  let j = null;
  try { j = await r.json(); } catch (e) { j = null; }
  if (!r.ok) throw new Error((j && j.error) || ('HTTP ' + r.status));
  return j;
}

// A state change is retried with the same submission id until the server
// acknowledges it, so a lost answer never records it twice.
async function post(path, body) {
  body.sub = subId();
  let last;
  for (let i = 0; i < 4; i++) {
    try { return await api(path, body); } catch (e) {
      last = e;
      if (!(e instanceof TypeError)) break;      // an HTTP error: do not retry
      await new Promise((res) => setTimeout(res, 300 * (i + 1)));
    }
  }
  throw last;
}

function pct(p) { return (100 * p).toFixed(1) + '%'; }

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function renderKeys() {
  const k = $('keys');
  clear(k);
  for (const c of S.classes) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.cls = c.name;
    if (c.key) {
      const kb = document.createElement('kbd');
      kb.textContent = c.key;
      b.appendChild(kb);
      b.appendChild(document.createTextNode(' '));
    }
    b.appendChild(document.createTextNode(c.name));
    b.addEventListener('click', () => labelCurrent(c.name));
    k.appendChild(b);
  }
  const rk = $('review-keys');
  clear(rk);
  for (const c of S.classes) {
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.cls = c.name;
    b.textContent = (c.key ? c.key + ' ' : '') + c.name;
    b.addEventListener('click', () => correct(c.name));
    rk.appendChild(b);
  }
  const sel = $('review-class');
  clear(sel);
  for (const c of S.classes) {
    const o = document.createElement('option');
    o.value = c.name;
    o.textContent = c.name;
    sel.appendChild(o);
  }
}

function renderStats() {
  const st = S.stats;
  if (!st) return;
  $('progress').value = st.items ? st.labelled / st.items : 0;
  $('progress-text').textContent = st.labelled + ' of ' + st.items + ' labelled' +
    (st.flagged ? ', ' + st.flagged + ' flagged' : '') +
    (st.npredicted ? ' · ' + pct(st.confident / st.npredicted) + ' of predictions confident' : '');
  const t = $('stats');
  clear(t);
  const head = t.insertRow();
  for (const h of ['class', 'labelled', 'predicted']) {
    const th = document.createElement('th');
    th.textContent = h;
    head.appendChild(th);
  }
  for (const c of S.classes) {
    const r = t.insertRow();
    r.insertCell().textContent = c.name;
    r.insertCell().textContent = st.per_class[c.name];
    r.insertCell().textContent = st.npredicted ? pct(st.predicted[c.name] / st.npredicted) : '–';
  }
  let m = st.has_model ? 'classifier' + (st.cv_accuracy !== null ? ', CV accuracy ' + pct(st.cv_accuracy) : '') +
    (st.model_time ? ', last improved ' + st.model_time : '') : st.model_msg;
  m += ' · retrains: ' + st.retrains + (st.retraining ? ' (retraining now…)' : '') +
    ' · new labels since: ' + st.labels_since;
  $('model').textContent = m;
  $('model').dataset.retrains = st.retrains;
}

function renderHistory(h) {
  const ol = $('history');
  clear(ol);
  for (const d of h || []) {
    const li = document.createElement('li');
    li.textContent = d.act + (d.class ? ' ' + d.class : '') + ' — ' + d.path;
    li.addEventListener('click', () => reopen(d.id));
    ol.appendChild(li);
  }
}

function renderItem() {
  const it = S.items[0];
  $('done').hidden = !!it;
  $('img').hidden = !it;
  if (!it) {
    for (const id of ['path', 'pred', 'zs', 'cluster', 'current-label']) $(id).textContent = '';
    $('img').removeAttribute('data-id');
    return;
  }
  $('img').src = '/img/' + it.id;
  $('img').dataset.id = it.id;
  $('path').textContent = it.path;
  $('pred').textContent = it.pred ? it.pred + ' ' + pct(it.pred_p) : 'no classifier yet';
  $('zs').textContent = it.zs ? it.zs + ' ' + pct(it.zs_p) : '–';
  $('cluster').textContent = it.cluster >= 0 ? String(it.cluster) : '–';
  $('current-label').textContent = it.label ? it.label + ' (' + it.labeller + ')' : (it.flagged ? 'flagged' : '–');
  // prefetch the next images
  for (const n of S.items.slice(1)) { const im = new Image(); im.src = '/img/' + n.id; }
}

async function loadNext() {
  const j = await api('/api/next?n=4');
  S.items = j.items;
  S.stats = j.stats;
  renderItem();
  renderStats();
  renderHistory(j.history);
}

// Actions run one after the other, in the order of the keys pressed; each one reads
// the image on screen when its turn comes.
S.chain = Promise.resolve();
function act(fn) {
  S.chain = S.chain.then(async () => {
    S.busy = true;
    try {
      await fn();
      status('');
    } catch (e) {
      status(e.message, true);
    } finally {
      S.busy = false;
    }
  });
  return S.chain;
}

function labelCurrent(cls) {
  act(async () => {
    const it = S.items[0];
    if (!it) return;
    await post('/api/label', { id: it.id, class: cls });
    await loadNext();
    status('labelled ' + cls);
  });
}

function skipCurrent() {
  act(async () => {
    const it = S.items[0];
    if (!it) return;
    await post('/api/skip', { id: it.id });
    await loadNext();
  });
}

function flagCurrent() {
  act(async () => {
    const it = S.items[0];
    if (!it) return;
    await post('/api/flag', { id: it.id });
    await loadNext();
    status('flagged');
  });
}

function undo() {
  act(async () => {
    const j = await post('/api/undo', {});
    await loadNext();
    status(j.nothing ? 'nothing to undo' : 'undone');
  });
}

function reopen(id) {
  act(async () => {
    const it = await api('/api/item?id=' + id);
    S.items.unshift(it);
    renderItem();
  });
}

// --- review mode -------------------------------------------------------------

async function loadReview() {
  const cls = $('review-class').value;
  const j = await api('/api/review?class=' + encodeURIComponent(cls) + '&limit=200');
  S.review = j.items;
  S.sel = 0;
  const g = $('review-grid');
  clear(g);
  S.review.forEach((it, i) => {
    const d = document.createElement('div');
    d.className = 'tile';
    d.dataset.id = it.id;
    const im = document.createElement('img');
    im.src = '/img/' + it.id + '?s=thumb';
    im.alt = it.path;
    const cap = document.createElement('div');
    cap.className = 'cap';
    cap.textContent = (it.label ? 'labelled ' + it.label : (it.pred ? 'pred ' : 'zero-shot ')) + ' ' +
      pct(it.confidence) + ' — ' + it.path;
    d.appendChild(im);
    d.appendChild(cap);
    d.addEventListener('click', () => { S.sel = i; renderSel(); });
    g.appendChild(d);
  });
  renderSel();
}

function renderSel() {
  const tiles = $('review-grid').children;
  for (let i = 0; i < tiles.length; i++) tiles[i].classList.toggle('selected', i === S.sel);
  if (tiles[S.sel]) tiles[S.sel].scrollIntoView({ block: 'nearest' });
}

function correct(cls) {
  const sel = S.sel, it = S.review[sel];
  if (!it) return;
  act(async () => {
    await post('/api/label', { id: it.id, class: cls });
    const tile = $('review-grid').children[sel];
    tile.classList.add('corrected');
    tile.querySelector('.cap').textContent = 'labelled ' + cls + ' — ' + it.path;
    status('corrected to ' + cls);
  });
}

function setMode(m) {
  S.mode = m;
  $('label-view').hidden = m !== 'label';
  $('review-view').hidden = m !== 'review';
  $('tab-label').classList.toggle('active', m === 'label');
  $('tab-review').classList.toggle('active', m === 'review');
  act(m === 'review' ? loadReview : loadNext);
}

function onKey(e) {
  if (!S.user || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT')) return;
  const c = S.classes.find((x) => x.key && x.key === e.key);
  if (S.mode === 'label') {
    if (c) labelCurrent(c.name);
    else if (e.key === 's') skipCurrent();
    else if (e.key === 'u' || e.key === 'Backspace') undo();
    else if (e.key === 'f') flagCurrent();
    else if (e.key === 'r') setMode('review');
    else return;
  } else {
    const cols = Math.max(1, Math.floor($('review-grid').clientWidth / 186));
    if (c) correct(c.name);
    else if (e.key === 'ArrowRight') S.sel = Math.min(S.review.length - 1, S.sel + 1);
    else if (e.key === 'ArrowLeft') S.sel = Math.max(0, S.sel - 1);
    else if (e.key === 'ArrowDown') S.sel = Math.min(S.review.length - 1, S.sel + cols);
    else if (e.key === 'ArrowUp') S.sel = Math.max(0, S.sel - cols);
    else if (e.key === 'l') { setMode('label'); return; } else return;
    renderSel();
  }
  e.preventDefault();
}

async function poll() {
  if (!S.user) return;
  try {
    const j = await api('/api/state');
    S.stats = j.stats;
    renderStats();
    // a retrain may have changed the prediction of the image on screen
    if (S.mode === 'label' && S.items[0] && !S.busy) {
      const it = await api('/api/item?id=' + S.items[0].id);
      if (S.items[0] && S.items[0].id === it.id) { S.items[0] = it; renderItem(); }
    }
  } catch (e) { status(e.message, true); }
}

async function start() {
  const st = await api('/api/state');
  S.classes = st.classes;
  S.stats = st.stats;
  renderKeys();
  if (!st.user) {
    $('login').hidden = false;
    $('login-name').focus();
    return;
  }
  S.user = st.user;
  S.csrf = st.csrf;
  $('login').hidden = true;
  $('login-name').blur();
  $('user').textContent = S.user;
  setMode('label');
  setInterval(poll, 2000);
}

$('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  api('/api/login', { name: $('login-name').value }).then(start, (err) => status(err.message, true));
});
$('tab-label').addEventListener('click', () => setMode('label'));
$('tab-review').addEventListener('click', () => setMode('review'));
$('review-class').addEventListener('change', () => act(loadReview));
document.addEventListener('keydown', onKey);
start().catch((e) => status(e.message, true));
