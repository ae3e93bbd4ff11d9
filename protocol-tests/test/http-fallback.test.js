// pusher-js's HTTP fallback transports in headless Chromium, for browsers whose network
// breaks WebSockets: unmodified pusher-js (its browser build) with only `xhr_streaming`,
// only `xhr_polling`, and with `window.WebSocket` removed before it loads (default
// transports, so pusher-js falls back by itself). Each connects, reports the transport,
// subscribes to public, private, presence and encrypted channels through a real auth
// endpoint on the page's own origin (sockwave is another origin: CORS), receives events the
// SDK publishes, sees a WebSocket client in presence, and exchanges whispers with it both
// ways. Laravel Echo over xhr_streaming: listen, here/joining/leaving, whisper. Then a
// cluster, limits, hostile traffic and shutdown, with pusher-js in Node or raw HTTP. Without
// Chromium the browser tests are NOT RUN (a failure when SOCKWAVE_TEST_REQUIRE_SERVICES=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { app, freePort, startServer } from '../lib/server.js';
import { RawClient, makePusher, makeSdk, once, pusherSubscribe, waitUntil } from '../lib/clients.js';
import { startReceiver, startWebhookServer } from '../lib/webhooks.js';
import { browserFor } from '../lib/browser.js';
import { startPageServer } from '../lib/page.js';
import { clusterOptions, needSharedEngine, startCluster } from '../lib/cluster.js';

const APP = app({ enable_client_messages: true });
// End-to-end encrypted channels: the backend and the auth endpoint share this key.
const MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

/** pusher-js's options for a page on another origin: WebSocket and HTTP both to sockwave. */
function pageOptions(port, transports) {
  const options = {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: port,
    httpHost: '127.0.0.1',
    httpPort: port,
    forceTLS: false,
    disableStats: true,
  };
  if (transports) options.enabledTransports = transports;
  return options;
}

/** pusher-js in the page, connected over `transports` (null: pusher-js's defaults). */
async function connectInPage(page, port, { transports, user }) {
  const base = pageOptions(port, transports);
  return page.evaluate(async ({ base, user }) => {
    const options = { ...base, channelAuthorization: { endpoint: `/auth?user=${user}`, transport: 'ajax' } };
    window.received = [];
    const pusher = new Pusher('app-key', options);
    window.pusher = pusher;
    await new Promise((resolve, reject) => {
      pusher.connection.bind('connected', resolve);
      setTimeout(() => reject(new Error(`pusher-js is ${pusher.connection.state}`)), 20_000);
    });
    return pusher.connection.connection.transport.name;
  }, { base, user });
}

/** Subscribes the page's pusher-js to `names`, recording every event on them. */
function subscribeInPage(page, names) {
  return page.evaluate((names) => Promise.all(names.map((name) => new Promise((resolve, reject) => {
    const channel = window.pusher.subscribe(name);
    channel.bind('pusher:subscription_succeeded', resolve);
    channel.bind('pusher:subscription_error', (err) => reject(new Error(`${name}: ${JSON.stringify(err)}`)));
    channel.bind_global((event, data) => window.received.push({ channel: name, event, data }));
  }))), names);
}

/** Resolves when the page recorded an event matching `channel`, `event` and (deeply) `data`. */
function pageReceived(page, channel, event, data) {
  return page.waitForFunction(
    ({ channel, event, data }) => window.received.some((r) => r.channel === channel && r.event === event
      && JSON.stringify(r.data) === JSON.stringify(data)),
    { channel, event, data },
    { timeout: 10_000 },
  );
}

for (const [label, transports, headScript, expected] of [
  ['xhr_streaming only', ['xhr_streaming'], '', 'xhr_streaming'],
  ['xhr_polling only', ['xhr_polling'], '', 'xhr_polling'],
  ['no WebSocket in the browser, default transports', null, 'delete window.WebSocket; delete window.MozWebSocket;', 'xhr_streaming'],
]) {
  test(`pusher-js in Chromium over HTTP (${label}): channels, events, presence, whispers`, { timeout: 90_000 }, async (t) => {
    const browser = await browserFor(t);
    if (!browser) return;
    const server = await startServer({ apps: [APP] });
    t.after(() => server.stop());
    const site = await startPageServer(t, server.port, { headScript, encryptionMasterKeyBase64: MASTER_KEY });
    const page = await browser.newPage();
    await page.goto(site.page());
    assert.equal(await page.evaluate(() => typeof window.WebSocket), headScript ? 'undefined' : 'function');

    const transport = await connectInPage(page, server.port, { transports, user: 'browser-user' });
    assert.equal(transport, expected);
    await subscribeInPage(page, ['dashboard', 'private-dashboard-stats', 'presence-room', 'private-chat', 'private-encrypted-payroll']);

    // Events published through the HTTP API reach every channel type (the encrypted one
    // decrypted by pusher-js with the shared secret from the auth endpoint).
    const sdk = makeSdk(server.port, APP, { encryptionMasterKeyBase64: MASTER_KEY });
    for (const channel of ['dashboard', 'private-dashboard-stats', 'presence-room', 'private-encrypted-payroll']) {
      await sdk.trigger(channel, 'stats.updated', { channel });
      await pageReceived(page, channel, 'stats.updated', { channel });
    }

    // A WebSocket client meets the HTTP one in presence and trades whispers with it.
    const ws = makePusher(server.port, { t, appCfg: APP, auth: { user: { user_id: 'ws-user', user_info: { name: 'WS' } } } });
    const { channel: room } = await pusherSubscribe(ws, 'presence-room');
    assert.ok(room.members.get('browser-user'), 'the WebSocket client sees the HTTP client in presence');
    await page.waitForFunction(() => window.received.some((r) => r.event === 'pusher:member_added' && r.data.id === 'ws-user'), null, { timeout: 10_000 });
    const { channel: chat } = await pusherSubscribe(ws, 'private-chat');
    const fromBrowser = once(chat, 'client-typing', 10_000);
    await page.evaluate(() => window.pusher.channel('private-chat').trigger('client-typing', { from: 'browser' }));
    assert.deepEqual(firstArg(await fromBrowser), { from: 'browser' });
    chat.trigger('client-reply', { from: 'ws' });
    await pageReceived(page, 'private-chat', 'client-reply', { from: 'ws' });

    // More than pusher-js's 256 KiB stream buffer: it replaces the stream (same session) and
    // nothing is lost or reordered on the way; the connection and socket id stay.
    const socketId = await page.evaluate(() => window.pusher.connection.socket_id);
    const padding = 'x'.repeat(9000);
    for (let seq = 1; seq <= 40; seq += 1) await sdk.trigger('dashboard', 'bulk', { seq, padding });
    await page.waitForFunction(() => window.received.filter((r) => r.event === 'bulk').length >= 40, null, { timeout: 15_000 });
    const seqs = await page.evaluate(() => window.received.filter((r) => r.event === 'bulk').map((r) => r.data.seq));
    assert.deepEqual(seqs, Array.from({ length: 40 }, (_, i) => i + 1));
    assert.equal(await page.evaluate(() => window.pusher.connection.socket_id), socketId);
    assert.equal(await page.evaluate(() => window.pusher.connection.state), 'connected');
    if (expected === 'xhr_streaming') {
      // The stream was replaced: the first one ended (the browser recorded it), a new one is open.
      const streams = await page.evaluate(() => performance.getEntriesByType('resource')
        .filter((e) => e.name.includes('/xhr_streaming')).length);
      assert.ok(streams >= 1, `pusher-js replaced its stream past 256 KiB (${streams} ended)`);
    }

    // The session counts as a connection: the WebSocket and the HTTP client.
    const info = await (await sdk.get({ path: '/channels/presence-room/users' })).json();
    assert.deepEqual(info.users.map((u) => u.id).sort(), ['browser-user', 'ws-user']);

    // Leaving: the browser closes the page; within the session timeout the member leaves.
    const left = once(room, 'pusher:member_removed', 20_000, (m) => m.id === 'browser-user');
    await page.close();
    await left;
  });
}

test('Laravel Echo in Chromium over xhr_streaming: listen, here/joining/leaving, whisper', { timeout: 90_000 }, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const server = await startServer({ apps: [APP] });
  t.after(() => server.stop());
  const site = await startPageServer(t, server.port);
  const page = await browser.newPage();
  await page.goto(site.page());
  await page.evaluate(async (base) => {
    const EchoClass = window.Echo.default ?? window.Echo;
    window.log = [];
    const echo = new EchoClass({ ...base, broadcaster: 'pusher', key: 'app-key', authEndpoint: '/auth?user=echo-user' });
    window.echo = echo;
    echo.private('dashboard-stats').listen('.stats.updated', (e) => window.log.push(['stats', e]));
    echo.join('room')
      .here((users) => window.log.push(['here', users]))
      .joining((user) => window.log.push(['joining', user]))
      .leaving((user) => window.log.push(['leaving', user]))
      .listenForWhisper('typing', (e) => window.log.push(['whisper', e]));
    await new Promise((resolve, reject) => {
      echo.connector.pusher.connection.bind('connected', resolve);
      setTimeout(() => reject(new Error('Echo did not connect')), 20_000);
    });
  }, pageOptions(server.port, ['xhr_streaming']));
  const logHas = (kind, test = '() => true') => page.waitForFunction(
    ({ kind, test }) => window.log.some(([k, v]) => k === kind && new Function('v', `return (${test})(v)`)(v)),
    { kind, test },
    { timeout: 10_000 },
  ).catch(async (err) => {
    const log = await page.evaluate(() => JSON.stringify(window.log));
    throw new Error(`${err.message}: waiting for '${kind}' in Echo's log ${log}`);
  });
  assert.equal(await page.evaluate(() => window.echo.connector.pusher.connection.connection.transport.name), 'xhr_streaming');
  // Echo hands out the members' user_info.
  await logHas('here', "(users) => users.some((u) => u.name === 'User echo-user')");

  const sdk = makeSdk(server.port, APP);
  // The private subscription may still be in flight: publish until it arrives.
  await pollUntil(async () => {
    await sdk.trigger('private-dashboard-stats', 'stats.updated', { cpu: 42 });
    return page.evaluate(() => window.log.some(([k]) => k === 'stats'));
  }, 'the Echo listener receiving stats.updated');

  const ws = makePusher(server.port, { t, appCfg: APP, auth: { user: { user_id: 'ws-user', user_info: { name: 'WS' } } } });
  const { channel: room } = await pusherSubscribe(ws, 'presence-room');
  await logHas('joining', "(u) => u.name === 'WS'");
  const whisper = once(room, 'client-typing', 10_000);
  await page.evaluate(() => window.echo.join('room').whisper('typing', { name: 'echo-user' }));
  assert.deepEqual(firstArg(await whisper), { name: 'echo-user' });
  room.trigger('client-typing', { name: 'ws-user' });
  await logHas('whisper', "(e) => e.name === 'ws-user'");
  ws.unsubscribe('presence-room');
  await logHas('leaving', "(u) => u.name === 'WS'");
});

test('cluster: an xhr_streaming client on node A and a WebSocket client on node B share presence, events and whispers', { timeout: 60_000 }, async (t) => {
  if (!(await needSharedEngine(t, 'redis'))) return;
  const [a, b] = await startCluster(t, 2, { cluster: clusterOptions('redis'), apps: [APP] });
  const user = (id) => ({ user: { user_id: id, user_info: { name: id } } });
  const overHttp = makePusher(a.port, {
    t, appCfg: APP, auth: user('http-user'), enabledTransports: ['xhr_streaming'], httpHost: '127.0.0.1', httpPort: a.port,
  });
  const { channel: httpRoom } = await pusherSubscribe(overHttp, 'presence-room');
  assert.equal(overHttp.connection.connection.transport.name, 'xhr_streaming');
  const joined = once(httpRoom, 'pusher:member_added', 10_000, (m) => m.id === 'ws-user');
  const overWs = makePusher(b.port, { t, appCfg: APP, auth: user('ws-user') });
  const { channel: wsRoom } = await pusherSubscribe(overWs, 'presence-room');
  await joined;
  await pollUntil(() => Boolean(wsRoom.members.get('http-user')), 'node B listing the HTTP client as a member');

  // Events published on either node reach both clients.
  for (const [node, n] of [[a, 1], [b, 2]]) {
    const atHttp = once(httpRoom, 'stats.updated', 10_000, (d) => d?.n === n);
    const atWs = once(wsRoom, 'stats.updated', 10_000, (d) => d?.n === n);
    await node.sdk(APP).trigger('presence-room', 'stats.updated', { n });
    await Promise.all([atHttp, atWs]);
  }
  // Whispers cross the nodes both ways.
  const atWs = once(wsRoom, 'client-typing', 10_000);
  httpRoom.trigger('client-typing', { from: 'http' });
  assert.deepEqual(firstArg(await atWs), { from: 'http' });
  const atHttp = once(httpRoom, 'client-typing', 10_000);
  wsRoom.trigger('client-typing', { from: 'ws' });
  assert.deepEqual(firstArg(await atHttp), { from: 'ws' });

  // The HTTP client leaves: node B's client sees it go.
  const left = once(wsRoom, 'pusher:member_removed', 15_000, (m) => m.id === 'http-user');
  overHttp.disconnect();
  await left;
});

async function pollUntil(attempt, label, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await attempt()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out: ${label}`);
}

/** pusher-js passes client events' data and metadata; `once` resolves with both then. */
const firstArg = (args) => (Array.isArray(args) ? args[0] : args);

test('hostile HTTP transport traffic gets clear errors and leaves nothing behind', { timeout: 60_000 }, async (t) => {
  const metricsPort = await freePort();
  const server = await startServer({
    apps: [APP],
    env: { SOCKWAVE_METRICS_ENABLED: 'true', SOCKWAVE_METRICS_PORT: String(metricsPort), SOCKWAVE_METRICS_HOST: '127.0.0.1' },
  });
  t.after(() => server.stop());
  const url = (path) => server.httpUrl(path);
  const post = (path, body) => fetch(url(path), { method: 'POST', body, signal: AbortSignal.timeout(10_000) });
  const errorOf = async (res) => (await res.json()).error;

  // Malformed session ids and kinds: 404 with what the URL should look like.
  for (const path of ['/pusher/app/app-key/1/a.b/xhr', '/pusher/app/app-key/1/x/y/xhr_send', `/pusher/app/app-key/1/${'a'.repeat(40)}/xhr_streaming`]) {
    const res = await post(path, '');
    assert.equal(res.status, 404, path);
    assert.match(await errorOf(res), /malformed HTTP transport URL/);
  }
  // Messages for a session that does not exist.
  let res = await post('/pusher/app/app-key/1/nosuch/xhr_send', '["{}"]');
  assert.equal(res.status, 404);
  assert.match(await errorOf(res), /no such session/);

  // A real session (long polling: the first request opens it), then bad sends to it.
  const session = '/pusher/app/app-key/7/hostile1';
  res = await post(`${session}/xhr?protocol=7&client=js&version=8.4.0`, '');
  assert.equal(await res.text(), 'o\n');
  res = await post(`${session}/xhr_send`, 'not json');
  assert.equal(res.status, 400);
  assert.match(await errorOf(res), /JSON array of strings/);
  res = await post(`${session}/xhr_send`, JSON.stringify(['x'.repeat(1024 * 1024)]));
  assert.equal(res.status, 413);
  assert.match(await errorOf(res), /larger than the server limit/);
  // One message over max_ws_message_kb, in a body the HTTP limit would let through.
  res = await post(`${session}/xhr_send`, JSON.stringify(['y'.repeat(300 * 1024)]));
  assert.equal(res.status, 413);
  assert.match(await errorOf(res), /a message is larger than the server limit of \d+ bytes \(max_ws_message_kb\)/);
  // The session still works: the next poll carries connection_established.
  res = await post(`${session}/xhr?protocol=7&client=js&version=8.4.0`, '');
  const line = await res.text();
  assert.match(line, /^a\["\{\\"event\\":\\"pusher:connection_established\\"/);

  // A wrong key: the session opens, then says why it closes, as over WebSocket (4001).
  res = await post('/pusher/app/wrong-key/1/abc/xhr_streaming?protocol=7&client=js&version=8.4.0', '');
  const refused = await res.text();
  assert.match(refused, /^o\na\[.*4001.*\]\nc\[4001,"app key 'wrong-key' does not exist/s);

  // Thousands of sessions opened and abandoned: all counted, then all gone after the
  // disconnect delay; the server keeps serving.
  const connected = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const match = text.match(/^sockwave_connected\{[^}]*app_id="app-id"[^}]*\} (\d+)/m);
    return match ? Number(match[1]) : 0;
  };
  const N = 2000;
  for (let start = 0; start < N; start += 200) {
    await Promise.all(Array.from({ length: 200 }, (_, i) => post(`/pusher/app/app-key/9/idle${start + i}/xhr?protocol=7`, '').then((r) => r.text())));
  }
  assert.ok(await connected() >= N, `at least ${N} sessions counted (got ${await connected()})`);
  await waitUntil(async () => (await connected()) === 0, 15_000, 'every abandoned session closed', 250);
  const ws = makePusher(server.port, { t, appCfg: APP });
  await pusherSubscribe(ws, 'after-the-flood');
});

test('shutdown: an open xhr_streaming session gets pusher:error 4200 and c[4200] before the server exits', { timeout: 30_000 }, async (t) => {
  const server = await startServer({ apps: [APP] });
  t.after(() => server.stop());
  const res = await fetch(server.httpUrl('/pusher/app/app-key/3/shutdown1/xhr_streaming?protocol=7&client=js&version=8.4.0'), { method: 'POST' });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-accel-buffering'), 'no');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const readUntil = async (pattern) => {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended before ${pattern}: ${text}`);
      text += decoder.decode(value, { stream: true });
    }
  };
  await readUntil(/connection_established/);
  server.proc.kill('SIGTERM');
  await readUntil(/c\[4200,"[^"]*"\]\n/);
  assert.match(text, /^o\na\[.*connection_established.*\]\na\[.*pusher:error.*4200.*\]\nc\[4200,/s);
  const { code } = await server.exited;
  assert.equal(code, 0);
});

test('http_transport_origins: a page on another origin is allowed only when listed', { timeout: 30_000 }, async (t) => {
  const server = await startServer({ apps: [APP], server: { http_transport_origins: ['https://app.example'] } });
  t.after(() => server.stop());
  const open = (origin) => fetch(server.httpUrl(`/pusher/app/app-key/1/cors${origin.length}/xhr?protocol=7`), {
    method: 'POST', headers: { origin }, signal: AbortSignal.timeout(5000),
  });
  let res = await open('https://evil.example');
  assert.equal(res.status, 403);
  assert.match((await res.json()).error, /origin 'https:\/\/evil.example' may not use the HTTP transports: add it to http_transport_origins/);
  res = await open('https://app.example');
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.equal(await res.text(), 'o\n');
  // The preflight a browser sends for pusher-js's JSON requests.
  res = await fetch(server.httpUrl('/pusher/app/app-key/1/cors/xhr_send'), {
    method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(res.status, 204);
  assert.match(res.headers.get('access-control-allow-methods'), /POST/);
  assert.match(res.headers.get('access-control-allow-headers'), /Content-Type/i);
});

test('an HTTP session is a connection like any: the connection limit (4004) and presence webhooks', { timeout: 30_000 }, async (t) => {
  const rx = await startReceiver();
  t.after(() => rx.close());
  const limited = app({
    id: 'limited', key: 'limited-key', secret: 'limited-secret', max_connections: 1,
    webhooks: [{ url: rx.url(), event_types: ['member_added', 'member_removed'] }],
  });
  const server = await startWebhookServer({ apps: [limited], server: { webhook_leave_delay_ms: 0 } });
  t.after(() => server.stop());
  const overHttp = makePusher(server.port, {
    t, appCfg: limited, auth: { user: { user_id: 'http-user', user_info: {} } },
    enabledTransports: ['xhr_streaming'], httpHost: '127.0.0.1', httpPort: server.port,
  });
  await pusherSubscribe(overHttp, 'presence-room');
  await rx.waitForEvent((e) => e.name === 'member_added' && e.user_id === 'http-user', 8000, 'member_added for the HTTP client');
  // The HTTP session holds the app's only connection slot: a WebSocket is refused with 4004.
  const ws = new RawClient(server.wsUrl(limited.key));
  t.after(() => ws.terminate());
  const refusal = await ws.next(() => true, 5000, 'the first frame');
  assert.equal(refusal.event, 'pusher:error');
  assert.equal(refusal.data.code, 4004);
  assert.equal((await ws.waitClosed(5000)).code, 4004);
  overHttp.disconnect();
  await rx.waitForEvent((e) => e.name === 'member_removed' && e.user_id === 'http-user', 15_000, 'member_removed for the HTTP client');
});

test('slow consumer: a stream whose client reads nothing is closed with 4100, like a WebSocket', { timeout: 60_000 }, async (t) => {
  const server = await startServer({ apps: [APP], server: { socket_queue_capacity: 16 } });
  t.after(() => server.stop());
  // A client that sends the stream request and then never reads.
  const socket = net.connect(server.port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('POST /pusher/app/app-key/5/stuck0001/xhr_streaming?protocol=7 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
  let head = '';
  await new Promise((resolve) => {
    socket.on('data', function first(chunk) {
      head += chunk;
      if (head.includes('connection_established')) { socket.off('data', first); resolve(); }
    });
  });
  socket.pause();
  // Subscribe it through its send URL, then publish far more than the kernel buffers hold.
  const send = await fetch(server.httpUrl('/pusher/app/app-key/5/stuck0001/xhr_send'), {
    method: 'POST', body: JSON.stringify([JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'firehose' } })]),
  });
  assert.equal(send.status, 204);
  const sdk = makeSdk(server.port, APP);
  const data = 'z'.repeat(60_000);
  for (let i = 0; i < 400 && !/slow consumer/.test(server.logs()); i += 1) {
    await sdk.trigger('firehose', 'big', { i, data });
  }
  await waitUntil(() => /connection closed.*reason=4100 slow consumer/.test(server.logs()), 10_000, 'the stuck session closed as a slow consumer');
});
