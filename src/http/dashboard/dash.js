// SPDX-License-Identifier: MIT
// The dtr dashboard (docs/http.md "Dashboard"): plain JavaScript, no
// library. It reads the API with the token (asked once, kept in
// sessionStorage) and follows GET /api/v1/events through fetch() (an
// EventSource cannot send the Authorization header), coalesced: the common
// task events (submitted, started, succeeded) come as one "tasks" event
// with their counts every half second, the rest one by one, so a dashboard
// costs the master per tick, not per task. Events are queued and applied
// once per animation frame: failures and cancels change their rows in
// place, the chart counts what ended, and the counts, workers, jobs and
// the page of tasks shown are re-read at most once a second while events
// arrive.
'use strict';

const STATES = ['blocked', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const PAGE = 20, FAILURES = 20, CHART_S = 120;
const EVENT_STATE = { submitted: 'queued', started: 'running', requeued: 'queued',
                      succeeded: 'succeeded', failed: 'failed', cancelled: 'cancelled' };

const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('dtr-token') || '';
let lastEvent = null, queue = [], frame = 0;
let stale = false, refreshing = false, lastRefresh = 0, pageStale = false, rowsStale = false;
let pageAfter = [], pageNext = null, rows = new Map(), detailId = null;
let failures = [];
const ended = new Array(CHART_S).fill(0);
let chartSecond = Math.floor(Date.now() / 1000);

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  opts.headers = Object.assign({}, opts.headers || {});
  if (token) opts.headers.Authorization = 'Bearer ' + token;
  const r = await fetch(path, opts);
  if (r.status === 401) throw new Unauthorized();
  return r;
}
async function json(path, opts) {
  const r = await api(path, opts);
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function ago(ms) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 120 ? s + ' s ago' : Math.round(s / 60) + ' min ago';
}

// ---- login -----------------------------------------------------------------

function askToken(msg) {
  $('main').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
  $('token').focus();
}
$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('dtr-token', token);
  start();
});

// ---- counts, workers, jobs (re-read, at most once a second) --------------

function renderCounts(tasks) {
  const box = $('counts');
  for (const s of STATES) {
    let c = $('count-' + s);
    if (!c) {
      c = el('div', 'count state-' + s);
      c.id = 'count-' + s;
      c.append(el('b'), s);
      box.append(c);
    }
    c.firstChild.textContent = String(tasks[s] || 0);
  }
}

function renderWorkers(workers) {
  $('workers-n').textContent = workers.length + ' registered';
  const frag = document.createDocumentFragment();
  for (const w of workers) {
    const tr = el('tr');
    const res = w.used ? Object.entries(w.used).map(([k, v]) => k + ' ' + v).join(', ') : '';
    const state = w.draining ? 'draining' : w.connected === false ? 'disconnected' : 'up';
    for (const v of [w.id, w.addr || '', (w.running || 0) + ' / ' + (w.slots || 0), res,
                     ago(w.last_seen_ms), state])
      tr.append(el('td', null, v));
    frag.append(tr);
  }
  $('workers').replaceChildren(frag);
}

function renderJobs(jobs) {
  const box = $('jobs');
  const shown = jobs.filter((j) => !j.ended_ms).concat(jobs.filter((j) => j.ended_ms).slice(-10));
  const frag = document.createDocumentFragment();
  for (const j of shown) {
    const n = j.tasks || {};
    const total = STATES.reduce((a, s) => a + (n[s] || 0), 0) || 1;
    const row = el('div', 'job');
    row.append(el('span', null, j.id));
    const bar = el('div', 'bar');
    for (const [s, cls] of [['succeeded', 'ok'], ['failed', 'bad'], ['cancelled', 'gone'],
                            ['running', 'run']]) {
      const part = el('span', cls);
      part.style.width = (100 * (n[s] || 0) / total) + '%';
      bar.append(part);
    }
    row.append(bar);
    const done = (n.succeeded || 0) + (n.failed || 0) + (n.cancelled || 0);
    row.append(el('span', 'note', done + ' / ' + total + (j.ended_ms ? ' ended' : '')));
    if (!j.ended_ms) {
      const b = el('button', null, 'Cancel job');
      b.dataset.role = 'cancel-job';
      b.addEventListener('click', () => cancelJob(j.id));
      row.append(b);
    }
    row.dataset.job = j.id;
    frag.append(row);
  }
  if (!shown.length) frag.append(el('span', 'note', 'no jobs'));
  box.replaceChildren(frag);
}

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  stale = false;
  lastRefresh = Date.now();
  try {
    const st = await json('/api/v1/status');
    renderCounts(st.tasks || {});
    renderWorkers(st.workers || []);
    renderJobs((await json('/api/v1/jobs')).jobs || []);
  } catch (e) {
    if (e instanceof Unauthorized) askToken('wrong token');
  } finally {
    refreshing = false;
  }
}
function maybeRefresh() {
  if (stale && !refreshing && Date.now() - lastRefresh >= 1000) {
    refresh();
    // a first page that is not full shows new tasks as they come
    if (rowsStale || (pageStale && !pageAfter.length && rows.size < PAGE)) {
      // the rows shown, read again (the same cursor: the same tasks)
      loadPage(pageAfter.length ? pageAfter[pageAfter.length - 1] : null);
      if (detailId) {
        json('/api/v1/tasks/' + encodeURIComponent(detailId))
          .then((t) => { if (t.id === detailId) showDetailState(t.state); })
          .catch(() => {});
      }
    }
    pageStale = rowsStale = false;
  }
}

// ---- the task list -----------------------------------------------------------

function taskRow(t) {
  const tr = el('tr');
  const a = el('a', null, t.id);
  a.addEventListener('click', () => openTask(t.id));
  const td = el('td');
  td.append(a);
  tr.append(td);
  const st = el('td', 'state-' + t.state, t.state);
  st.dataset.role = 'state';
  tr.append(st, el('td', null, t.kind || ''), el('td', null, t.job || ''),
            el('td', 'cmd', t.error || ''),
            el('td', null, t.worker || ''), el('td', null, String(t.attempts || 0)));
  const c = el('td');
  if (!TERMINAL.has(t.state)) {
    const b = el('button', null, 'Cancel');
    b.dataset.role = 'cancel';
    b.addEventListener('click', () => cancel(t.id));
    c.append(b);
  }
  tr.append(c);
  tr.dataset.id = t.id;
  return tr;
}

async function loadPage(after) {
  const q = new URLSearchParams({ limit: PAGE });
  if (after) q.set('after', after);
  if ($('filter-state').value) q.set('state', $('filter-state').value);
  if ($('filter-job').value.trim()) q.set('job', $('filter-job').value.trim());
  try {
    const page = await json('/api/v1/tasks?' + q);
    pageNext = page.next;
    rows = new Map();
    const frag = document.createDocumentFragment();
    for (const t of page.tasks) {
      const tr = taskRow(t);
      rows.set(t.id, tr);
      frag.append(tr);
    }
    $('tasks').replaceChildren(frag);
    $('find-error').textContent = page.tasks.length ? '' : 'no tasks';
  } catch (e) {
    $('find-error').textContent = e.message;
  }
}
$('first').addEventListener('click', () => { pageAfter = []; loadPage(null); });
$('next').addEventListener('click', () => {
  if (!pageNext) return;
  pageAfter.push(pageNext);
  loadPage(pageNext);
});
$('filter-state').addEventListener('change', () => { pageAfter = []; loadPage(null); });
$('filter-job').addEventListener('change', () => { pageAfter = []; loadPage(null); });
$('find').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('find-id').value.trim();
  if (id) openTask(id);
});

function setRowState(id, state) {
  const tr = rows.get(id);
  if (!tr) return;
  const st = tr.querySelector('[data-role=state]');
  st.textContent = state;
  st.className = 'state-' + state;
  if (TERMINAL.has(state)) {
    const b = tr.querySelector('[data-role=cancel]');
    if (b) b.remove();
  }
}

async function openTask(id) {
  $('find-error').textContent = '';
  let t;
  try {
    t = await json('/api/v1/tasks/' + encodeURIComponent(id));
  } catch (e) {
    $('find-error').textContent = e.message;
    return;
  }
  detailId = t.id;
  $('detail').hidden = false;
  $('detail-id').textContent = t.id;
  showDetailState(t.state);
  const rec = Object.assign({}, t);
  delete rec.stdout;
  delete rec.stderr;
  $('detail-record').textContent = JSON.stringify(rec, null, 2);
  for (const s of ['stdout', 'stderr']) {
    const r = await api('/api/v1/tasks/' + encodeURIComponent(t.id) + '/output?stream=' + s);
    const text = r.ok ? await r.text() : '';
    $('detail-' + s).textContent = text;
    if (s === 'stdout')
      $('detail-attempt').textContent = 'attempt ' + (r.headers.get('X-Dtr-Attempt') || '-');
  }
}
function showDetailState(state) {
  $('detail-state').textContent = state;
  $('detail-state').className = 'state-' + state;
  $('detail-cancel').hidden = TERMINAL.has(state);
}
$('detail-close').addEventListener('click', () => { $('detail').hidden = true; detailId = null; });
$('detail-cancel').addEventListener('click', () => { if (detailId) cancel(detailId); });

async function cancel(id) {
  try {
    await json('/api/v1/tasks/' + encodeURIComponent(id) + '/cancel', { method: 'POST' });
  } catch (e) {
    $('find-error').textContent = e.message;
  }
}

// Every unfinished task of the job (POST /api/v1/jobs/J/cancel); the rows
// change as the cancelled events come.
async function cancelJob(id) {
  try {
    await json('/api/v1/jobs/' + encodeURIComponent(id) + '/cancel', { method: 'POST' });
  } catch (e) {
    $('find-error').textContent = e.message;
  }
}

// ---- recent failures -----------------------------------------------------------

async function addFailure(id) {
  failures = failures.filter((f) => f.id !== id);
  const f = { id, stderr: null };
  failures.unshift(f);
  failures.length = Math.min(failures.length, FAILURES);
  renderFailures();
  try {
    const r = await api('/api/v1/tasks/' + encodeURIComponent(id) + '/output?stream=stderr');
    f.stderr = r.ok ? (await r.text()).slice(-4000) : '';
  } catch (e) {
    f.stderr = '';
  }
  renderFailures();
}
function renderFailures() {
  const frag = document.createDocumentFragment();
  for (const f of failures) {
    const d = el('div', 'failure');
    const a = el('a', null, f.id);
    a.addEventListener('click', () => openTask(f.id));
    d.append(a, el('pre', null, f.stderr === null ? '...' : f.stderr || '(no stderr)'));
    frag.append(d);
  }
  if (!failures.length) frag.append(el('span', 'note', 'none seen'));
  $('failures').replaceChildren(frag);
}

// ---- the throughput chart -------------------------------------------------------

function chartTick(now) {
  const sec = Math.floor(now / 1000);
  while (chartSecond < sec) {
    ended.shift();
    ended.push(0);
    chartSecond++;
  }
}
function drawChart() {
  chartTick(Date.now());
  const c = $('chart'), g = c.getContext('2d');
  const max = Math.max(1, ...ended);
  g.clearRect(0, 0, c.width, c.height);
  g.fillStyle = '#777';
  g.fillText(max + '/s', 4, 12);
  g.strokeStyle = '#25a';
  g.beginPath();
  ended.forEach((v, i) => {
    const x = i * (c.width - 1) / (CHART_S - 1), y = c.height - 2 - v * (c.height - 20) / max;
    if (i) g.lineTo(x, y); else g.moveTo(x, y);
  });
  g.stroke();
}

// ---- the event stream -----------------------------------------------------------

function applyEvents() {
  frame = 0;
  const batch = queue;
  queue = [];
  chartTick(Date.now());
  for (const e of batch) {
    stale = true;
    if (e.event === 'tasks') { // counted by the master since the last one
      rowsStale = true;
      if (e.submitted) pageStale = true;
      const i = CHART_S - 1 - (chartSecond - Math.floor(e.at_ms / 1000));
      if (i >= 0 && i < CHART_S) ended[i] += e.succeeded || 0;
      continue;
    }
    const state = EVENT_STATE[e.event];
    if (!e.task || !state) continue;
    if (e.event === 'submitted') pageStale = true;
    if (TERMINAL.has(state)) {
      const i = CHART_S - 1 - (chartSecond - Math.floor(e.at_ms / 1000));
      if (i >= 0 && i < CHART_S) ended[i]++;
    }
    setRowState(e.task, state);
    if (e.task === detailId) showDetailState(state);
    if (e.event === 'failed') addFailure(e.task);
  }
  drawChart();
  maybeRefresh();
}
function onEvent(e) {
  queue.push(e);
  if (!frame) frame = requestAnimationFrame(applyEvents);
}

function parseBlock(block) {
  let data = '', id = null;
  for (const line of block.split('\n')) {
    if (line.startsWith('data: ')) data += line.slice(6);
    else if (line.startsWith('id: ')) id = line.slice(4);
  }
  if (id) lastEvent = id;
  if (data) {
    try { onEvent(JSON.parse(data)); } catch (e) { /* not ours */ }
  }
}

async function follow() {
  for (;;) {
    try {
      const headers = lastEvent ? { 'Last-Event-ID': lastEvent } : {};
      const r = await api('/api/v1/events?coalesce=1', { headers });
      if (!r.ok) throw new Error(r.statusText);
      $('live').textContent = 'live';
      $('live').className = 'on';
      const reader = r.body.getReader(), dec = new TextDecoder();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += dec.decode(value, { stream: true });
        const blocks = text.split('\n\n');
        text = blocks.pop(); // an event not complete yet
        for (const b of blocks) parseBlock(b);
      }
    } catch (e) {
      if (e instanceof Unauthorized) { askToken('wrong token'); return; }
    }
    $('live').textContent = 'reconnecting';
    $('live').className = 'off';
    await new Promise((ok) => setTimeout(ok, 2000));
    stale = true;
  }
}

// ---- start -------------------------------------------------------------------------

let started = false;
async function start() {
  try {
    await json('/api/v1/status');
  } catch (e) {
    if (e instanceof Unauthorized) askToken(token ? 'wrong token' : '');
    else $('live').textContent = 'cannot reach the master: ' + e.message;
    return;
  }
  $('login').hidden = true;
  $('main').hidden = false;
  if (started) return;
  started = true;
  follow();
  await refresh();
  loadPage(null);
  renderFailures();
  drawChart();
  // the chart scrolls and heartbeats age while nothing happens
  setInterval(() => {
    drawChart();
    if (Date.now() - lastRefresh >= 10000) stale = true;
    maybeRefresh();
  }, 1000);
}
start();
