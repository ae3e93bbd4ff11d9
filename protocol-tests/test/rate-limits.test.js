// Rate limits with real clients: the SDK hits the backend-event and read-request limits
// (Soketi's variable names), gets 429 with the rate-limit headers and recovers after the
// one-second window; pusher-js hits the client-event limit; a second socket from the same
// address is refused by the per-IP limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, app, sleep } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, sdkError, signedRequest, waitForState, waitUntil, withTimeout } from '../lib/clients.js';

// The limits count one-second windows: a refused request must be let through again within
// this long (the window, plus slack for the timers).
const NEXT_WINDOW_MS = 1100;

/**
 * Repeats `attempt` (every 50 ms; it resolves true when let through, false when refused) until
 * it is let through, which must start within NEXT_WINDOW_MS: recovery is observed as soon as
 * the window turns instead of after sleeping a whole one. Refused attempts spend no budget.
 */
async function allowedAgain(attempt, label) {
  const deadline = Date.now() + NEXT_WINDOW_MS;
  for (;;) {
    const startedAt = Date.now();
    if (await attempt()) return;
    if (startedAt > deadline) throw new Error(`${label}: still refused ${NEXT_WINDOW_MS} ms after the refusal`);
    await sleep(50);
  }
}

/** The HTTP status an SDK call ends with, whether it resolves or rejects. */
const statusOf = (promise) => promise.then((res) => res.status, (err) => err.status);

test('backend events (one per channel) and read requests answer 429 with headers and recover', async (t) => {
  const server = await startServer({
    env: { SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC: '2', SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC: '1' },
  });
  t.after(() => server.stop());
  const sdk = makeSdk(server.port);

  assert.equal((await sdk.trigger(['a', 'b'], 'e', {})).status, 200);
  const refused = await sdkError(sdk.trigger('c', 'e', {}));
  assert.equal(refused.status, 429);
  assert.match(refused.body, /at most 2 per second/);
  const raw = await signedRequest(server.port, 'POST', '/apps/app-id/events', { body: { name: 'e', channel: 'c', data: '{}' } });
  assert.equal(raw.status, 429);
  assert.equal(raw.headers.get('x-ratelimit-limit'), '2');
  assert.equal(raw.headers.get('x-ratelimit-remaining'), '0');
  assert.equal(raw.headers.get('retry-after'), '1');
  assert.deepEqual(Object.keys(raw.json).sort(), ['code', 'error']);
  assert.equal(raw.json.code, 429);
  await allowedAgain(async () => {
    const status = await statusOf(sdk.trigger('c', 'e', {}));
    assert.ok([200, 429].includes(status), `status ${status}`);
    return status === 200;
  }, 'backend events');

  const read = await sdk.get({ path: '/channels' });
  assert.equal(read.status, 200);
  assert.equal(read.headers.get('x-ratelimit-remaining'), '0');
  assert.equal((await sdkError(sdk.get({ path: '/channels' }))).status, 429);
  await allowedAgain(async () => {
    const status = await statusOf(sdk.get({ path: '/channels' }));
    assert.ok([200, 429].includes(status), `status ${status}`);
    return status === 200;
  }, 'read requests');
});

test('pusher-js client events per socket hit the limit and recover', async (t) => {
  const cfg = app({ enable_client_messages: true, max_client_events_per_second: 1 });
  const server = await startServer({ apps: [cfg] });
  t.after(() => server.stop());
  const alice = makePusher(server.port, { t, appCfg: cfg });
  const bob = makePusher(server.port, { t, appCfg: cfg });
  const { channel: aliceChannel } = await pusherSubscribe(alice, 'private-chat');
  const { channel: bobChannel } = await pusherSubscribe(bob, 'private-chat');

  const first = once(bobChannel, 'client-typing');
  assert.ok(aliceChannel.trigger('client-typing', { n: 1 }));
  await first;
  const limited = once(alice.connection, 'error');
  aliceChannel.trigger('client-typing', { n: 2 });
  const error = await limited;
  assert.equal(error.data.code, 4301);
  assert.match(error.data.message, /rate limit/);
  // Each attempt has exactly one answer: relayed to bob, or refused with 4301 to alice.
  const attempt = () => {
    let onRelay;
    let onError;
    const answer = new Promise((resolve) => {
      onRelay = (data) => { if (data?.n === 3) resolve(true); };
      onError = (err) => { if (err?.data?.code === 4301) resolve(false); };
      bobChannel.bind('client-typing', onRelay);
      alice.connection.bind('error', onError);
    });
    assert.ok(aliceChannel.trigger('client-typing', { n: 3 }));
    return withTimeout(answer, 5000, 'the relay or the refusal of a client event').finally(() => {
      bobChannel.unbind('client-typing', onRelay);
      alice.connection.unbind('error', onError);
    });
  };
  await allowedAgain(attempt, 'client events');
});

test('the per-IP limit refuses a second socket with 429 until the first one closes', async (t) => {
  const server = await startServer({ server: { ws_connections_per_ip: 1 } });
  t.after(() => server.stop());
  const first = makePusher(server.port, { t });
  await waitForState(first, 'connected');
  /** Tries an upgrade: `{ status: 101, ws }` (left open) or the refusal's status. */
  const tryUpgrade = () => new Promise((resolve) => {
    const ws = new WebSocket(server.wsUrl());
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.on('open', () => resolve({ status: 101, ws }));
    ws.on('error', () => {});
  });
  assert.equal((await tryUpgrade()).status, 429);
  first.disconnect();
  // The slot is released once the server has seen the close (a reconnect right after
  // disconnect() can race it): the next socket is admitted, and holds the slot in turn.
  const next = await waitUntil(async () => {
    const attempt = await tryUpgrade();
    return attempt.status === 101 ? attempt.ws : null;
  }, 5000, 'the slot to be released');
  t.after(() => next.terminate());
  assert.equal((await tryUpgrade()).status, 429);
});
