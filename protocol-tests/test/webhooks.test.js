// Webhooks end to end: real sockets (pusher-js and raw) make events, a real HTTP receiver on a
// loopback port gets them, and the pusher Node SDK's webhook validation checks every request.
// Covers each event type, channel filters, the leave delay, batching (never mixing apps),
// retries, a failing target not slowing sockets, shutdown draining, the delivery log and
// Soketi-shaped configuration.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_APP, app, sleep } from '../lib/server.js';
import { RawClient, makeSdk, makePusher, pusherSubscribe, waitForState, waitUntil, withTimeout } from '../lib/clients.js';
import { startReceiver, startWebhookServer, isValidWebhook } from '../lib/webhooks.js';

const ALL_TYPES = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'client_event', 'cache_miss', 'subscription_count'];
const FAST = { webhook_batch_window_ms: 20, webhook_leave_delay_ms: 300 };

/** Receiver + server, both cleaned up at the end of the test. */
async function setup(t, { respond, server = {}, apps, hooks = () => [] } = {}) {
  const rx = await startReceiver({ respond });
  t.after(() => rx.close());
  const configured = apps ? apps(rx) : [{ ...DEFAULT_APP, webhooks: hooks(rx) }];
  const srv = await startWebhookServer({ server: { ...FAST, ...server }, apps: configured });
  t.after(() => srv.stop('SIGKILL'));
  return { rx, srv };
}

const strip = ({ request, ...event }) => event;
const named = (name, channel) => (e) => e.name === name && e.channel === channel;

async function deliveryLog(port, appCfg = DEFAULT_APP) {
  const res = await makeSdk(port, appCfg).get({ path: '/webhooks/deliveries' });
  assert.equal(res.status, 200);
  return res.json();
}

/**
 * Polls the delivery log (bounded) until `done(log)`: the receiver sees a request before
 * sockwave has read the answer and updated its log.
 */
async function waitForLog(port, done, { appCfg = DEFAULT_APP, ms = 10_000, label = 'the delivery log' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const log = await deliveryLog(port, appCfg);
    if (done(log)) return log;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${label}: ${JSON.stringify(log)}`);
    await sleep(50);
  }
}

describe('webhooks', () => {
  test('every event type arrives in Pusher\'s shape and passes pusher.webhook().isValid()', async (t) => {
    const appCfg = app({ enable_client_messages: true, enable_subscription_count: true });
    const { rx, srv } = await setup(t, {
      apps: (r) => [{ ...appCfg, webhooks: [{ url: r.url(), event_types: ALL_TYPES, headers: { 'X-Custom': 'yes' } }] }],
    });
    const p = makePusher(srv.port, { auth: { user: { user_id: 'u1', user_info: { name: 'Ann' } } } });
    await waitForState(p, 'connected');
    const socketId = p.connection.socket_id;
    const { channel: presence } = await pusherSubscribe(p, 'presence-room');
    const { channel: priv } = await pusherSubscribe(p, 'private-room');
    await pusherSubscribe(p, 'cache-quotes');
    presence.trigger('client-typing', { typing: true });
    priv.trigger('client-note', 'plain text');

    const expected = [
      { name: 'channel_occupied', channel: 'presence-room' },
      { name: 'member_added', channel: 'presence-room', user_id: 'u1' },
      { name: 'channel_occupied', channel: 'private-room' },
      { name: 'subscription_count', channel: 'private-room', subscription_count: 1 },
      { name: 'channel_occupied', channel: 'cache-quotes' },
      { name: 'cache_miss', channel: 'cache-quotes' },
      { name: 'subscription_count', channel: 'cache-quotes', subscription_count: 1 },
      { name: 'client_event', channel: 'presence-room', event: 'client-typing', data: '{"typing":true}', socket_id: socketId, user_id: 'u1' },
      { name: 'client_event', channel: 'private-room', event: 'client-note', data: 'plain text', socket_id: socketId },
    ];
    await rx.waitFor((r) => r.events().length >= expected.length, 8000, 'the join and client events');
    p.disconnect();
    const leaves = [
      { name: 'member_removed', channel: 'presence-room', user_id: 'u1' },
      { name: 'channel_vacated', channel: 'presence-room' },
      { name: 'channel_vacated', channel: 'private-room' },
      { name: 'channel_vacated', channel: 'cache-quotes' },
    ];
    await rx.waitFor((r) => r.events().length >= expected.length + leaves.length, 8000, 'the leave events');
    const got = rx.events().map(strip);
    const sortKey = (e) => JSON.stringify(e);
    assert.deepEqual(got.map(sortKey).sort(), [...expected, ...leaves].map(sortKey).sort());
    for (const request of rx.requests) {
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['x-pusher-key'], appCfg.key);
      assert.equal(request.headers['x-custom'], 'yes');
      assert.ok(isValidWebhook(request, appCfg), `valid signature: ${request.rawBody}`);
      assert.ok(!isValidWebhook(request, { ...appCfg, secret: 'wrong-secret' }), 'a wrong secret fails');
      assert.ok(Math.abs(request.body.time_ms - request.at) < 5000, 'time_ms is a recent epoch time');
    }
  });

  test('channel filters: prefix and suffix select the channels a webhook sees', async (t) => {
    const { rx, srv } = await setup(t, {
      hooks: (r) => [
        { url: r.url('/beta'), event_types: ['channel_occupied'], filter: { channel_name_starts_with: 'beta-', channel_name_ends_with: '-app' } },
        { url: r.url('/all'), event_types: ['channel_occupied'] },
      ],
    });
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    for (const name of ['chat-room', 'beta-chat-room', 'chat-room-app', 'beta-chat-room-app']) await c.subscribeOk(name);
    const on = (path) => rx.events().filter((e) => e.request.path === path).map((e) => e.channel);
    await rx.waitFor(() => on('/all').length === 4 && on('/beta').length === 1, 8000, 'filtered and unfiltered events');
    // Barrier: one more channel that both URLs want. A target gets its requests one at a time,
    // in the order of the events, so once the marker is at /beta, anything wrongly let through
    // before it is there too.
    await c.subscribeOk('beta-marker-app');
    await rx.waitFor(() => on('/beta').includes('beta-marker-app') && on('/all').includes('beta-marker-app'), 8000, 'the marker on both URLs');
    assert.deepEqual(on('/beta'), ['beta-chat-room-app', 'beta-marker-app']);
    assert.deepEqual(on('/all').sort(), ['beta-chat-room', 'beta-chat-room-app', 'beta-marker-app', 'chat-room', 'chat-room-app']);
  });

  test('leave delay: a reload within it sends nothing; leaving for longer sends the vacate', async (t) => {
    const DELAY = 1000;
    const { rx, srv } = await setup(t, {
      server: { webhook_leave_delay_ms: DELAY },
      hooks: (r) => [{ url: r.url(), event_types: ALL_TYPES }],
    });
    const user = { user_id: 'u7', user_info: {} };
    const names = (channel) => rx.events().filter((e) => e.channel === channel).map((e) => e.name);
    const first = makePusher(srv.port, { auth: { user } });
    await waitForState(first, 'connected');
    await pusherSubscribe(first, 'presence-lobby');
    await rx.waitFor((r) => r.events().length === 2, 8000, 'occupied + member_added');

    // A page reload: the old connection goes, a new one subscribes again well within the delay.
    const reloadStarted = Date.now();
    first.disconnect();
    const second = makePusher(srv.port, { auth: { user } });
    t.after(() => second.disconnect());
    await waitForState(second, 'connected');
    await pusherSubscribe(second, 'presence-lobby');
    assert.ok(Date.now() - reloadStarted < DELAY, 'the reload finished within the delay');
    // Past the delay, the reload must not have produced a vacate/occupy or remove/add pair.
    // Barrier: a marker channel left after the server handled the reload (the HTTP count is
    // back to 1 once it has seen the old socket go). Held leaves are released in the order they
    // were held, and one target gets its requests one at a time, in order: once the marker's
    // vacate is here, a leave from the reload would be here too.
    await waitUntil(async () => (await (await makeSdk(srv.port).get({ path: '/channels/presence-lobby', params: { info: 'subscription_count' } })).json())
      .subscription_count === 1, 5000, 'the server to see the old socket go');
    const marker = await RawClient.connect(srv.wsUrl());
    t.after(() => marker.terminate());
    await marker.subscribeOk('leave-marker');
    const markerLeftAt = Date.now();
    marker.close();
    const markerVacated = await rx.waitForEvent(named('channel_vacated', 'leave-marker'), DELAY + 5000, 'the marker\'s vacate');
    assert.ok(markerVacated.request.at - markerLeftAt >= DELAY - 50, `marker held for the delay (${markerVacated.request.at - markerLeftAt} ms)`);
    assert.deepEqual(names('presence-lobby'), ['channel_occupied', 'member_added']);
    assert.deepEqual(names('leave-marker'), ['channel_occupied', 'channel_vacated']);
    assert.equal(rx.events().length, 4, JSON.stringify(rx.events().map(strip)));

    const leftAt = Date.now();
    second.disconnect();
    const vacated = await rx.waitForEvent(named('channel_vacated', 'presence-lobby'), DELAY + 5000, 'the vacate');
    assert.ok(vacated.request.at - leftAt >= DELAY - 50, `held for the delay (${vacated.request.at - leftAt} ms)`);
    assert.ok(rx.events().some(named('member_removed', 'presence-lobby')));
    assert.deepEqual(names('presence-lobby').sort(), ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
    assert.equal(rx.events().length, 6, JSON.stringify(rx.events().map(strip)));
  });

  test('batching: events within the window share one request, and apps are never mixed', async (t) => {
    const A = app({ id: 'batch-a', key: 'batch-a-key', secret: 'batch-a-secret' });
    const B = app({ id: 'batch-b', key: 'batch-b-key', secret: 'batch-b-secret' });
    const { rx, srv } = await setup(t, {
      server: { webhook_batch_window_ms: 400 },
      apps: (r) => [A, B].map((a) => ({ ...a, webhooks: [{ url: r.url('/shared'), event_types: ['channel_occupied'] }] })),
    });
    const a = await RawClient.connect(srv.wsUrl(A.key));
    const b = await RawClient.connect(srv.wsUrl(B.key));
    t.after(() => { a.terminate(); b.terminate(); });
    for (let n = 0; n < 5; n++) {
      await a.subscribeOk(`a-${n}`);
      await b.subscribeOk(`b-${n}`);
    }
    await rx.waitFor((r) => r.events().length === 10, 8000, 'ten occupied events');
    assert.equal(rx.requests.length, 2, 'one request per app');
    for (const request of rx.requests) {
      const own = request.headers['x-pusher-key'] === A.key ? A : B;
      const other = own === A ? B : A;
      const prefix = own === A ? 'a-' : 'b-';
      assert.equal(request.body.events.length, 5);
      assert.ok(request.body.events.every((e) => e.channel.startsWith(prefix)), request.rawBody);
      assert.ok(isValidWebhook(request, own));
      assert.ok(!isValidWebhook(request, other), 'signed with its own app only');
    }
  });

  test('retries: the receiver fails the first attempts, then every event arrives exactly once', async (t) => {
    const FAILURES = 2;
    const { rx, srv } = await setup(t, {
      respond: (n) => (n < FAILURES ? 503 : 200),
      hooks: (r) => [{ url: r.url(), event_types: ['channel_occupied'] }],
    });
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    const channels = ['r-0', 'r-1', 'r-2'];
    for (const name of channels) await c.subscribeOk(name);
    await rx.waitFor((r) => r.requests.length >= 1, 5000, 'the first attempt');
    // More events while the first batch is being retried: they wait behind it.
    for (const name of ['r-3', 'r-4']) { channels.push(name); await c.subscribeOk(name); }
    await rx.waitFor((r) => r.events().length >= channels.length, 15_000, 'every event delivered');
    const delivered = rx.events().map((e) => e.channel);
    assert.deepEqual([...delivered].sort(), channels, 'each event exactly once among accepted requests');
    assert.equal(rx.requests.filter((r) => r.status === 503).length, FAILURES);
    assert.equal(rx.requests[0].rawBody, rx.requests[FAILURES].rawBody, 'a retry resends the same signed body');
    assert.ok(rx.requests.every((r) => isValidWebhook(r)));
    const log = await waitForLog(srv.port, (l) => l.counters.delivered === channels.length, { label: 'every event counted as delivered' });
    const retried = log.deliveries.find((d) => d.attempts === FAILURES + 1);
    assert.equal(retried?.outcome, 'delivered', JSON.stringify(log));
    assert.equal(log.counters.retries, FAILURES);
    assert.equal(log.counters.delivered, channels.length);
  });

  test('a target that always fails does not slow message delivery to sockets', async (t) => {
    const appCfg = app({ enable_client_messages: true });
    const { rx, srv } = await setup(t, {
      // '/down' answers 500 forever; '/hang' never answers at all.
      respond: (n, req) => (req.path === '/hang' ? 'hang' : 500),
      server: { webhook_retry_budget: 1, webhook_leave_delay_ms: 0, webhook_request_timeout: 2 },
      apps: (r) => [{
        ...appCfg,
        webhooks: [
          { url: r.url('/down'), event_types: ALL_TYPES },
          { url: r.url('/hang'), event_types: ['channel_occupied'] },
        ],
      }],
    });
    const listener = await RawClient.connect(srv.wsUrl());
    const churn = await RawClient.connect(srv.wsUrl());
    t.after(() => { listener.terminate(); churn.terminate(); });
    await listener.subscribeOk('prices');
    const sdk = makeSdk(srv.port);
    const latencies = [];
    for (let n = 0; n < 30; n++) {
      // Webhook traffic on every round: occupy and vacate a channel.
      churn.subscribe(`churn-${n}`);
      churn.unsubscribe(`churn-${n}`);
      const sent = Date.now();
      await sdk.trigger('prices', 'tick', { n });
      await listener.next((f) => f.event === 'tick' && f.data?.n === n, 5000, `tick ${n}`);
      latencies.push(Date.now() - sent);
    }
    latencies.sort((x, y) => x - y);
    const median = latencies[Math.floor(latencies.length / 2)];
    assert.ok(median < 100, `median publish-to-socket latency ${median} ms`);
    assert.ok(latencies.at(-1) < 1000, `slowest publish-to-socket latency ${latencies.at(-1)} ms`);
    assert.ok(rx.requests.some((r) => r.path === '/down'), 'the failing target was tried while messages flowed');
    assert.ok(rx.requests.some((r) => r.path === '/hang'), 'the hanging target was tried while messages flowed');
    // The failures are final after the 1 s budget and visible in the delivery log.
    const failedDown = (d) => d.outcome === 'failed' && d.url === rx.url('/down');
    const log = await waitForLog(srv.port, (l) => l.deliveries.some(failedDown), { appCfg, label: 'a failed delivery in the log' });
    const failed = log.deliveries.find(failedDown);
    assert.equal(failed.status, 500);
    assert.ok(failed.attempts >= 2, `retried before giving up: ${JSON.stringify(failed)}`);
    assert.ok(log.counters.failed >= 1);
  });

  test('shutdown drains pending webhooks: batched and held events arrive before the process exits', async (t) => {
    const GRACE = 3;
    const { rx, srv } = await setup(t, {
      // Everything would otherwise wait: a 10 s batch window and a 60 s leave delay.
      server: { shutdown_grace_period: GRACE, webhook_batch_window_ms: 10_000, webhook_leave_delay_ms: 60_000 },
      hooks: (r) => [{ url: r.url(), event_types: ['channel_occupied', 'channel_vacated'] }],
    });
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    await c.subscribeOk('draining');
    assert.equal(rx.requests.length, 0, 'the occupied event is still in its batch window');
    const signalled = Date.now();
    srv.proc.kill('SIGTERM');
    await withTimeout(srv.exited, (GRACE + 3) * 1000, 'process exit');
    assert.ok(Date.now() - signalled <= (GRACE + 1.5) * 1000, 'exit within the grace period');
    assert.deepEqual(rx.events().map((e) => `${e.name} ${e.channel}`), ['channel_occupied draining', 'channel_vacated draining']);
    assert.ok(rx.requests.every((r) => isValidWebhook(r)));
  });

  test('the delivery log is readable with pusher.get() and refuses unsigned requests', async (t) => {
    const { rx, srv } = await setup(t, {
      hooks: (r) => [{ url: r.url(), event_types: ['channel_occupied'], headers: { Authorization: 'Bearer secret-token' } }],
    });
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    await c.subscribeOk('logged');
    await rx.waitFor((r) => r.events().length === 1);
    const log = await waitForLog(srv.port, (l) => l.deliveries[0]?.outcome === 'delivered');
    assert.equal(log.deliveries.length, 1);
    const [record] = log.deliveries;
    assert.deepEqual(
      { url: record.url, events: record.events, status: record.status, attempts: record.attempts, outcome: record.outcome, error: record.error },
      { url: rx.url(), events: ['channel_occupied'], status: 200, attempts: 1, outcome: 'delivered', error: null },
    );
    assert.ok(Math.abs(record.time_ms - Date.now()) < 10_000);
    assert.deepEqual(log.counters, { accepted: 1, dropped: 0, delivered: 1, failed: 0, retries: 0 });
    assert.deepEqual(log.targets, [{ url: rx.url(), event_types: ['channel_occupied'], filter: { channel_name_starts_with: null, channel_name_ends_with: null } }]);
    assert.ok(!JSON.stringify(log).includes('secret-token'), 'target headers are not exposed');
    const unsigned = await fetch(srv.httpUrl(`/apps/${DEFAULT_APP.id}/webhooks/deliveries`));
    assert.equal(unsigned.status, 401);
  });

  test('Soketi configuration works unchanged: JSON config webhooks and SOKETI_DEFAULT_APP_WEBHOOKS', async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const soketi = await startWebhookServer({
      soketiJson: {
        'webhooks.batching': { enabled: true, duration: 20 },
        'appManager.array.apps': [{
          id: 'soketi-id', key: 'soketi-key', secret: 'soketi-secret', enableClientMessages: false,
          webhooks: [{ url: rx.url('/json'), event_types: ['channel_occupied'], filter: { channel_name_starts_with: 'soketi-' } }],
        }],
      },
    });
    t.after(() => soketi.stop('SIGKILL'));
    const viaEnv = await startWebhookServer({
      env: { SOKETI_DEFAULT_APP_WEBHOOKS: JSON.stringify([{ url: rx.url('/env'), event_types: ['channel_occupied'] }]) },
    });
    t.after(() => viaEnv.stop('SIGKILL'));
    const a = await RawClient.connect(soketi.wsUrl('soketi-key'));
    const b = await RawClient.connect(viaEnv.wsUrl());
    t.after(() => { a.terminate(); b.terminate(); });
    await a.subscribeOk('other-channel');
    await a.subscribeOk('soketi-channel');
    await b.subscribeOk('env-channel');
    await rx.waitFor((r) => r.events().length === 2, 8000, 'one event from each server');
    const byPath = Object.fromEntries(rx.events().map((e) => [e.request.path, e]));
    assert.equal(byPath['/json'].channel, 'soketi-channel');
    assert.ok(isValidWebhook(byPath['/json'].request, { id: 'soketi-id', key: 'soketi-key', secret: 'soketi-secret' }));
    assert.equal(byPath['/env'].channel, 'env-channel');
    assert.ok(isValidWebhook(byPath['/env'].request));
  });
});
