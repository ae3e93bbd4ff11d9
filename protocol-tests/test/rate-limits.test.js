// Rate limits with real clients: the SDK hits the backend-event and read-request limits
// (Soketi's variable names), gets 429 with the rate-limit headers and recovers after the
// one-second window; pusher-js hits the client-event limit; a second socket from the same
// address is refused by the per-IP limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, app, sleep } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, sdkError, signedRequest, waitForState, waitUntil } from '../lib/clients.js';

// The limits count one-second windows: waiting for the next one is the point of these waits.
const NEXT_WINDOW_MS = 1100;

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
  await sleep(NEXT_WINDOW_MS);
  assert.equal((await sdk.trigger('c', 'e', {})).status, 200);

  const read = await sdk.get({ path: '/channels' });
  assert.equal(read.status, 200);
  assert.equal(read.headers.get('x-ratelimit-remaining'), '0');
  assert.equal((await sdkError(sdk.get({ path: '/channels' }))).status, 429);
  await sleep(NEXT_WINDOW_MS);
  assert.equal((await sdk.get({ path: '/channels' })).status, 200);
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
  await sleep(NEXT_WINDOW_MS);
  const again = once(bobChannel, 'client-typing');
  aliceChannel.trigger('client-typing', { n: 3 });
  await again;
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
