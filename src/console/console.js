(() => {
  'use strict';

  const KINDS = [
    ['connection_opened', 'connection opened'],
    ['connection_closed', 'connection closed'],
    ['subscribed', 'subscribed'],
    ['subscription_failed', 'subscription failed'],
    ['publish', 'publish'],
    ['publish_rejected', 'publish rejected'],
    ['client_event', 'client event'],
    ['client_event_refused', 'client event refused'],
    ['signin_refused', 'sign-in refused'],
    ['webhook', 'webhook'],
    ['warning', 'warning'],
  ];
  const KIND_LABEL = Object.fromEntries(KINDS);
  /** Events worth a look: refusals, warnings, failed webhooks, unusual closes, unheard publishes. */
  function isProblem(ev) {
    switch (ev.kind) {
      case 'subscription_failed': case 'publish_rejected': case 'warning':
      case 'client_event_refused': case 'signin_refused': return true;
      case 'webhook': return !(typeof ev.status === 'number' && ev.status >= 200 && ev.status < 300);
      case 'connection_closed': return typeof ev.code === 'number' && ev.code >= 4000;
      case 'publish': return ev.reached === 0 && !(ev.cluster_subscribers > 0);
      default: return false;
    }
  }
  const CLOSE_CODES = {
    1000: 'normal closure', 1001: 'going away', 1006: 'closed without a close frame',
    4001: 'app does not exist', 4003: 'app disabled', 4004: 'over connection quota',
    4005: 'path not found', 4006: 'invalid version string', 4007: 'unsupported protocol version',
    4008: 'no protocol version', 4009: 'connection is unauthorized', 4100: 'over capacity',
    4200: 'generic reconnect', 4201: 'pong reply not received', 4202: 'closed after inactivity',
    4301: 'client event rejected (rate limit)',
  };

  const params = new URLSearchParams(location.search);
  const clampInt = (v, lo, hi, dflt) => {
    const n = parseInt(v, 10);
    return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
  };
  /** Rows kept in the list; older ones are removed and counted as not shown. */
  const MAX_ROWS = clampInt(params.get('max_rows'), 10, 10000, 1000);
  /** Events buffered while paused; beyond this the oldest are dropped and counted. */
  const MAX_PAUSED = Math.max(MAX_ROWS, 5000);
  const BASE = location.pathname.replace(/\/+$/, '');
  const STORE = { app: 'sockwave-console.app_id', token: 'sockwave-console.token' };

  const $ = (id) => document.getElementById(id);
  const el = {
    loginForm: $('login-form'), appId: $('app-id'), token: $('token'),
    connect: $('connect'), disconnect: $('disconnect'), status: $('status'), loginError: $('login-error'),
    fChannel: $('filter-channel'), fEvent: $('filter-event'), fSocket: $('filter-socket'), fProblems: $('filter-problems'), kinds: $('kinds'),
    stats: $('stats'), sConn: $('stat-connections'), sChan: $('stat-channels'), sMps: $('stat-mps'),
    sNotShown: $('stat-not-shown'), notShownBox: $('not-shown-box'),
    pause: $('pause'), clear: $('clear'), pausedBanner: $('paused-banner'), count: $('log-count'),
    log: $('log'), empty: $('empty'),
    pubForm: $('publish-form'), pubChannel: $('pub-channel'), pubEvent: $('pub-event'), pubData: $('pub-data'),
    pubNote: $('publish-note'), pubResult: $('publish-result'), publish: $('publish'),
  };

  const st = {
    ctrl: null, retryTimer: null, retries: 0, appId: '', token: '',
    paused: false, paused_buf: [], queue: [], flushTimer: null,
    serverNotShownBase: 0, serverNotShown: 0, droppedRows: 0, droppedPaused: 0,
  };
  const rowEvent = new WeakMap();

  // ---------- small helpers ----------
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function fmtTime(ms) {
    const d = new Date(typeof ms === 'number' ? ms : Date.now());
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n));
  const fmtBytes = (n) => (typeof n === 'number' ? `${fmtNum(n)} B` : '?');
  const present = (v) => v !== undefined && v !== null && v !== '';

  function setStatus(state, text) {
    el.status.dataset.state = state;
    el.status.textContent = text || state;
  }
  function showError(msg) {
    el.loginError.textContent = msg;
    el.loginError.hidden = !msg;
  }

  // ---------- kind checkboxes ----------
  for (const [kind, label] of KINDS) {
    const lab = document.createElement('label');
    lab.className = `k-${kind}`;
    const box = document.createElement('input');
    box.type = 'checkbox'; box.name = 'kind'; box.value = kind; box.checked = true;
    box.id = `kind-${kind}`;
    const dot = document.createElement('span'); dot.className = 'dot'; dot.setAttribute('aria-hidden', 'true');
    lab.append(box, dot, document.createTextNode(label));
    el.kinds.append(lab);
  }
  const kindBoxes = () => [...el.kinds.querySelectorAll('input[name=kind]')];
  function setKinds(pred) { for (const b of kindBoxes()) b.checked = pred(b.value); applyFilters(); }
  $('kinds-all').addEventListener('click', () => setKinds(() => true));
  $('kinds-none').addEventListener('click', () => setKinds(() => false));

  // ---------- filters ----------
  function currentFilter() {
    return {
      channel: el.fChannel.value.trim().toLowerCase(),
      event: el.fEvent.value.trim().toLowerCase(),
      socket: el.fSocket.value.trim(),
      problems: el.fProblems.checked,
      kinds: new Set(kindBoxes().filter((b) => b.checked).map((b) => b.value)),
    };
  }
  function matches(ev, f) {
    if (KIND_LABEL[ev.kind] && !f.kinds.has(ev.kind)) return false;
    if (f.problems && !isProblem(ev)) return false;
    if (f.channel) {
      const chans = Array.isArray(ev.channels) ? ev.channels : present(ev.channel) ? [ev.channel] : [];
      if (!chans.some((c) => String(c).toLowerCase().includes(f.channel))) return false;
    }
    if (f.event) {
      const names = Array.isArray(ev.events) ? ev.events : present(ev.event) ? [ev.event] : [];
      if (!names.some((n) => String(n).toLowerCase().includes(f.event))) return false;
    }
    if (f.socket) {
      const ids = [ev.socket_id, ev.excluded_socket_id].filter(present).map(String);
      if (!ids.some((s) => s.includes(f.socket))) return false;
    }
    return true;
  }
  // What an empty page usually means: a private or presence subscription is authorized by
  // the app's auth endpoint before pusher-js sends anything, so a refusal there never
  // reaches the server and leaves no event here.
  const EMPTY_TEXT = 'No events yet. Connect, then open a page that uses this app or publish an event. '
    + 'A page that subscribes to a private or presence channel asks its auth endpoint first '
    + '(Laravel: /broadcasting/auth); when that answers 401, 403, 404 or 419, pusher-js never sends '
    + 'the subscribe and nothing appears here: look at that request in the browser\'s network tab, '
    + 'or run sockwave doctor.';
  function updateCount() {
    const total = el.log.children.length;
    let visible = 0;
    for (const r of el.log.children) if (!r.hidden) visible++;
    el.count.textContent = visible === total ? `${fmtNum(total)} events` : `showing ${fmtNum(visible)} of ${fmtNum(total)} events`;
    el.empty.hidden = total > 0;
    if (total > 0 && visible === 0) {
      el.empty.hidden = false;
      el.empty.textContent = 'No event matches the filters.';
    } else {
      el.empty.textContent = EMPTY_TEXT;
    }
  }
  function applyFilters() {
    const f = currentFilter();
    for (const row of el.log.children) row.hidden = !matches(rowEvent.get(row), f);
    updateCount();
  }
  for (const input of [el.fChannel, el.fEvent, el.fSocket]) input.addEventListener('input', applyFilters);
  el.kinds.addEventListener('change', applyFilters);
  el.fProblems.addEventListener('change', applyFilters);

  // ---------- rows ----------
  function field(row, details, key, label, value, cls) {
    if (!present(value)) return;
    const span = document.createElement('span');
    span.className = `f${cls ? ' ' + cls : ''}`;
    span.dataset.field = key;
    const k = document.createElement('span'); k.className = 'k'; k.textContent = label;
    const v = document.createElement('span'); v.className = 'v'; v.textContent = String(value);
    span.append(k, v);
    span.title = `${label} ${value}`;
    details.append(span);
  }
  /** "a, b ×3" for a list of names with repeats. */
  function countNames(names) {
    const counts = new Map();
    for (const n of names) counts.set(n, (counts.get(n) || 0) + 1);
    return [...counts].map(([n, c]) => (c > 1 ? `${n} ×${c}` : n)).join(', ');
  }
  function hint(details, text) {
    const p = document.createElement('p'); p.className = 'hint'; p.textContent = text; details.append(p);
  }

  function buildRow(ev) {
    const kind = String(ev.kind || 'unknown');
    const known = Boolean(KIND_LABEL[kind]);
    const row = document.createElement('li');
    row.className = `row k-${known ? kind : 'other'}`;
    row.dataset.kind = kind;
    const ds = (name, v) => { if (present(v)) row.dataset[name] = Array.isArray(v) ? v.join(',') : String(v); };
    ds('socketId', ev.socket_id);
    ds('channel', Array.isArray(ev.channels) ? ev.channels : ev.channel);
    ds('event', Array.isArray(ev.events) ? ev.events : ev.event);

    const time = document.createElement('time');
    time.dateTime = new Date(typeof ev.time_ms === 'number' ? ev.time_ms : Date.now()).toISOString();
    time.textContent = fmtTime(ev.time_ms);
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = KIND_LABEL[kind] || kind;
    const d = document.createElement('div');
    d.className = 'details';
    const F = (key, label, value, cls) => field(row, d, key, label, value, cls);

    switch (kind) {
      case 'connection_opened': {
        F('socket_id', 'socket', ev.socket_id);
        const lib = [ev.client, ev.version].filter(present).join(' ');
        F('client', 'client', lib || 'unknown');
        F('origin', 'origin', present(ev.origin) ? ev.origin : 'none');
        break;
      }
      case 'connection_closed': {
        F('socket_id', 'socket', ev.socket_id);
        ds('code', ev.code);
        F('code', 'code', ev.code);
        const meaning = CLOSE_CODES[ev.code];
        const why = present(ev.reason) ? ev.reason : meaning;
        F('reason', 'reason', meaning && !String(why).includes(meaning) ? `${why} (${meaning})` : why);
        break;
      }
      case 'subscribed':
        F('socket_id', 'socket', ev.socket_id);
        F('channel', 'channel', ev.channel);
        break;
      case 'subscription_failed':
        F('socket_id', 'socket', ev.socket_id);
        F('channel', 'channel', ev.channel);
        F('reason', 'reason', ev.reason, 'wide reason');
        break;
      case 'client_event_refused':
        F('socket_id', 'socket', ev.socket_id);
        F('channel', 'channel', ev.channel);
        F('event', 'event', ev.event);
        F('reason', 'reason', ev.reason, 'wide reason');
        break;
      case 'signin_refused':
        F('socket_id', 'socket', ev.socket_id);
        F('reason', 'reason', ev.reason, 'wide reason');
        break;
      case 'publish': {
        const chans = Array.isArray(ev.channels) ? ev.channels : [];
        F('channels', chans.length === 1 ? 'channel' : 'channels', chans.join(', '));
        F('event', 'event', ev.event);
        ds('size', ev.size);
        F('size', 'size', fmtBytes(ev.size));
        ds('reached', ev.reached);
        F('reached', 'reached', present(ev.reached) ? `${fmtNum(ev.reached)} on this node` : null);
        ds('clusterSubscribers', ev.cluster_subscribers);
        F('cluster_subscribers', 'subscribers', present(ev.cluster_subscribers) ? `${fmtNum(ev.cluster_subscribers)} in cluster` : null);
        F('excluded_socket_id', 'excluded', ev.excluded_socket_id);
        if (ev.reached === 0 && !(ev.cluster_subscribers > 0)) {
          hint(d, 'Nobody is subscribed to this channel: compare the channel name with the one the page subscribes to.');
        }
        break;
      }
      case 'publish_rejected':
        ds('status', ev.status);
        F('status', 'status', ev.status);
        F('path', 'path', ev.path);
        F('reason', 'reason', ev.reason, 'wide reason');
        if (ev.status === 401) hint(d, 'The server SDK signs with a key or secret that does not match this app.');
        break;
      case 'client_event':
        F('socket_id', 'socket', ev.socket_id);
        F('channel', 'channel', ev.channel);
        F('event', 'event', ev.event);
        ds('size', ev.size);
        F('size', 'size', fmtBytes(ev.size));
        break;
      case 'webhook': {
        ds('status', ev.status);
        ds('outcome', ev.outcome);
        F('url', 'url', ev.url);
        F('status', 'status', present(ev.status) ? ev.status : 'no answer');
        F('attempts', 'attempts', ev.attempts);
        F('outcome', 'outcome', ev.outcome);
        F('events', 'events', Array.isArray(ev.events) ? countNames(ev.events) : ev.events, 'wide');
        break;
      }
      case 'warning':
        F('message', 'message', ev.message, 'wide');
        break;
      default: {
        const { kind: _k, time_ms: _t, app_id: _a, ...rest } = ev;
        F('json', 'data', JSON.stringify(rest), 'wide');
      }
    }

    const toggle = document.createElement('button');
    toggle.type = 'button';
    toggle.className = 'raw-toggle';
    toggle.textContent = '{ }';
    toggle.setAttribute('aria-expanded', 'false');
    toggle.setAttribute('aria-label', 'Show the raw event');
    toggle.title = 'Show the raw event';
    if (ev.client_supplied === true) {
      // Written by a client the server did not authenticate: say so, so nobody takes a
      // stranger's text for the server's.
      row.dataset.clientSupplied = 'true';
      const mark = document.createElement('span');
      mark.className = 'client-supplied';
      mark.textContent = 'client-supplied';
      mark.title = 'The names and text in this row come from an unauthenticated client, not from sockwave or your backend';
      d.prepend(mark);
    }
    if (isProblem(ev)) {
      row.dataset.problem = 'true';
      row.classList.add(kind === 'warning' || kind === 'publish' || kind === 'connection_closed' ? 'warn' : 'bad');
    }
    row.append(time, badge, d, toggle);
    rowEvent.set(row, ev);
    return row;
  }

  el.log.addEventListener('click', (e) => {
    const btn = e.target.closest('.raw-toggle');
    if (!btn) return;
    const row = btn.closest('.row');
    let pre = row.querySelector('.raw');
    if (!pre) {
      pre = document.createElement('pre');
      pre.className = 'raw';
      pre.textContent = JSON.stringify(rowEvent.get(row), null, 2);
      pre.hidden = true;
      row.append(pre);
    }
    pre.hidden = !pre.hidden;
    btn.setAttribute('aria-expanded', String(!pre.hidden));
  });

  /** Adds queued events to the list in one DOM update (newest on top). */
  function flush() {
    st.flushTimer = null;
    let batch = st.queue;
    st.queue = [];
    if (!batch.length) return;
    if (batch.length > MAX_ROWS) {
      st.droppedRows += batch.length - MAX_ROWS;
      batch = batch.slice(batch.length - MAX_ROWS);
    }
    const f = currentFilter();
    const frag = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) {
      const row = buildRow(batch[i]);
      row.hidden = !matches(batch[i], f);
      frag.append(row);
    }
    el.log.prepend(frag);
    while (el.log.children.length > MAX_ROWS) {
      el.log.lastElementChild.remove();
      st.droppedRows++;
    }
    updateCount();
    renderNotShown();
  }
  function enqueue(ev) {
    st.queue.push(ev);
    if (!st.flushTimer) st.flushTimer = setTimeout(flush, 16);
  }

  // ---------- stats and the not-shown counter ----------
  function renderNotShown() {
    const server = st.serverNotShownBase + st.serverNotShown;
    const total = server + st.droppedRows + st.droppedPaused;
    el.sNotShown.textContent = fmtNum(total);
    el.notShownBox.dataset.nonzero = String(total > 0);
    el.notShownBox.dataset.server = String(server);
    el.notShownBox.dataset.client = String(st.droppedRows + st.droppedPaused);
    el.notShownBox.title =
      `${fmtNum(server)} missed by the stream because the page could not keep up; ` +
      `${fmtNum(st.droppedRows)} older rows removed (the list keeps the newest ${fmtNum(MAX_ROWS)}); ` +
      `${fmtNum(st.droppedPaused)} dropped while paused (at most ${fmtNum(MAX_PAUSED)} are kept).`;
  }
  function onStats(ev) {
    el.sConn.textContent = fmtNum(ev.connections ?? '–');
    el.sChan.textContent = fmtNum(ev.channels ?? '–');
    const mps = ev.messages_per_second;
    el.sMps.textContent = typeof mps === 'number' ? (Number.isInteger(mps) ? fmtNum(mps) : mps.toFixed(1)) : '–';
    if (typeof ev.not_shown === 'number') st.serverNotShown = ev.not_shown;
    el.stats.dataset.ready = 'true';
    renderNotShown();
  }

  // ---------- pause ----------
  function renderPause() {
    const n = st.paused_buf.length;
    el.pause.setAttribute('aria-pressed', String(st.paused));
    el.pause.textContent = st.paused ? (n ? `Resume (${fmtNum(n)} new)` : 'Resume') : 'Pause';
    el.pausedBanner.hidden = !st.paused;
    el.pausedBanner.textContent = `Paused: ${fmtNum(n)} new ${n === 1 ? 'event' : 'events'} waiting`;
    el.pausedBanner.dataset.pending = String(n);
  }
  el.pause.addEventListener('click', () => {
    st.paused = !st.paused;
    if (!st.paused) {
      const buf = st.paused_buf;
      st.paused_buf = [];
      for (const ev of buf) st.queue.push(ev);
      flush();
    }
    renderPause();
  });
  el.clear.addEventListener('click', () => {
    el.log.replaceChildren();
    updateCount();
  });

  function onEvent(ev) {
    if (!ev || typeof ev !== 'object') return;
    if (ev.kind === 'stats') { onStats(ev); return; }
    if (st.paused) {
      st.paused_buf.push(ev);
      if (st.paused_buf.length > MAX_PAUSED) { st.paused_buf.shift(); st.droppedPaused++; renderNotShown(); }
      renderPause();
      return;
    }
    enqueue(ev);
  }

  // ---------- the stream ----------
  // The stream is read with fetch rather than EventSource: fetch sees the HTTP status (so a
  // wrong token or an unknown app is reported as such) and there is only one request.
  async function errorOf(res) {
    let text = '';
    try { text = await res.text(); } catch { /* ignore */ }
    let msg = text.trim();
    try { const j = JSON.parse(text); if (j && j.error) msg = String(j.error); } catch { /* not JSON */ }
    return msg.slice(0, 400);
  }
  function describeHttpError(status, msg) {
    const what = { 400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 429: 'Too many wrong tokens' }[status] || 'Error';
    if (msg) return `${status} ${what}: ${msg}`;
    if (status === 401 || status === 403) return `${status} ${what}: use the console token from [console] or this app's secret`;
    if (status === 404) return `${status} ${what}: check the app id, and that the console is enabled ([console] enabled = true)`;
    return `${status} ${what}`;
  }

  function stopStream() {
    if (st.ctrl) { st.ctrl.abort(); st.ctrl = null; }
    if (st.retryTimer) { clearTimeout(st.retryTimer); st.retryTimer = null; }
  }
  function scheduleRetry(why) {
    st.serverNotShownBase += st.serverNotShown;
    st.serverNotShown = 0;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(st.retries, 5));
    st.retries++;
    setStatus('reconnecting', `reconnecting in ${Math.round(delay / 1000) || 1}s (${why})`);
    st.retryTimer = setTimeout(() => { st.retryTimer = null; openStream(); }, delay);
  }

  async function openStream() {
    const ctrl = new AbortController();
    st.ctrl = ctrl;
    // The token goes in a header, never in the URL, where proxy logs and history keep it.
    const url = `${BASE}/stream?${new URLSearchParams({ app_id: st.appId })}`;
    setStatus(st.retries ? 'reconnecting' : 'connecting', st.retries ? 'reconnecting…' : 'connecting…');
    let res;
    try {
      res = await fetch(url, {
        signal: ctrl.signal, cache: 'no-store',
        headers: { Accept: 'text/event-stream', Authorization: `Bearer ${st.token}` },
      });
    } catch {
      if (!ctrl.signal.aborted) scheduleRetry('server unreachable');
      return;
    }
    if (ctrl.signal.aborted) return;
    if (!res.ok) {
      const msg = await errorOf(res);
      if (res.status >= 500) { scheduleRetry(`HTTP ${res.status}`); return; }
      st.ctrl = null;
      setStatus('error', `refused (${res.status})`);
      showError(describeHttpError(res.status, msg));
      setConnectedUi(false);
      return;
    }
    const type = res.headers.get('content-type') || '';
    if (!type.includes('text/event-stream') || !res.body) {
      ctrl.abort();
      st.ctrl = null;
      setStatus('error', 'not a stream');
      showError(`The server answered ${res.status} with ${type || 'no content type'} instead of an event stream: is this a sockwave with the console enabled?`);
      setConnectedUi(false);
      return;
    }
    showError('');
    st.retries = 0;
    setStatus('connected', `connected to ${st.appId}`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let data = [];
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
          if (line === '') {
            if (data.length) {
              const text = data.join('\n');
              data = [];
              let ev = null;
              try { ev = JSON.parse(text); } catch { /* not JSON: ignored */ }
              onEvent(ev);
            }
          } else if (line.startsWith('data:')) {
            data.push(line.slice(line[5] === ' ' ? 6 : 5));
          }
          // comments (":"), "event:", "id:" and "retry:" lines carry nothing the page uses
        }
      }
    } catch {
      /* aborted or the connection broke */
    }
    if (st.ctrl === ctrl && !ctrl.signal.aborted) scheduleRetry('stream ended');
  }

  function setConnectedUi(on) {
    el.connect.hidden = on;
    el.disconnect.hidden = !on;
    el.appId.disabled = on;
    el.token.disabled = on;
  }

  function resetView() {
    el.log.replaceChildren();
    st.queue = []; st.paused_buf = [];
    st.serverNotShownBase = 0; st.serverNotShown = 0; st.droppedRows = 0; st.droppedPaused = 0;
    for (const s of [el.sConn, el.sChan, el.sMps]) s.textContent = '–';
    el.stats.dataset.ready = 'false';
    renderNotShown(); renderPause(); updateCount();
  }

  function connect() {
    stopStream();
    const appId = el.appId.value.trim();
    const token = el.token.value;
    if (!appId) { showError('Enter the app id.'); el.appId.focus(); return; }
    showError('');
    try {
      sessionStorage.setItem(STORE.app, appId);
      sessionStorage.setItem(STORE.token, token);
    } catch { /* storage unavailable */ }
    if (appId !== st.appId) resetView();
    st.appId = appId; st.token = token; st.retries = 0;
    setConnectedUi(true);
    openStream();
  }
  function disconnect() {
    stopStream();
    setConnectedUi(false);
    setStatus('disconnected', 'disconnected');
  }
  el.loginForm.addEventListener('submit', (e) => { e.preventDefault(); connect(); });
  el.disconnect.addEventListener('click', disconnect);

  // ---------- event creator ----------
  el.pubData.addEventListener('input', () => {
    const v = el.pubData.value;
    let note = '';
    if (v.trim()) { try { JSON.parse(v); } catch { note = 'Not valid JSON: it will be sent as a plain string.'; } }
    el.pubNote.textContent = note;
  });
  el.pubForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    // The sign-in fields are locked while connected, so they always hold the app in view.
    const appId = el.appId.value.trim();
    const token = el.token.value;
    const out = (outcome, text) => { el.pubResult.dataset.outcome = outcome; el.pubResult.textContent = text; };
    if (!appId) { out('error', 'Enter the app id at the top first.'); return; }
    const body = { channel: el.pubChannel.value.trim(), event: el.pubEvent.value.trim(), data: el.pubData.value };
    el.publish.disabled = true;
    out('pending', 'Publishing…');
    try {
      const res = await fetch(`${BASE}/publish?${new URLSearchParams({ app_id: appId })}`, {
        method: 'POST',
        cache: 'no-store',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      if (res.ok) {
        let j = {};
        try { j = await res.json(); } catch { /* empty */ }
        const n = typeof j.reached === 'number' ? j.reached : NaN;
        el.pubResult.dataset.reached = String(n);
        out('ok', `Published "${body.event}" to ${body.channel}: reached ${fmtNum(n)} ${n === 1 ? 'socket' : 'sockets'}.`);
      } else {
        out('error', `Not published: ${describeHttpError(res.status, await errorOf(res))}`);
      }
    } catch (err) {
      out('error', `Not published: the server could not be reached (${err.message}).`);
    } finally {
      el.publish.disabled = false;
    }
  });

  // ---------- start ----------
  let savedApp = '', savedToken = '';
  try { savedApp = sessionStorage.getItem(STORE.app) || ''; savedToken = sessionStorage.getItem(STORE.token) || ''; } catch { /* none */ }
  el.appId.value = params.get('app_id') || savedApp;
  el.token.value = savedToken;
  renderNotShown(); renderPause(); updateCount();
  if (savedApp && (!params.get('app_id') || params.get('app_id') === savedApp)) connect();
})();
