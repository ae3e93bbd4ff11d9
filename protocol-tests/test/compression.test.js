// permessage-deflate as clients get it: Node's `ws` and pusher-js in Chromium offer it and get
// 1 KB dashboard events compressed (counted on the wire by a relay, against a client that
// declined), compressed client messages are read, a message that inflates past the limit is
// refused with 1009, and `ws_compression = false` declines every offer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app, startServer } from '../lib/server.js';
import { RawClient, makeSdk, privateAuth, waitUntil } from '../lib/clients.js';
import { startCuttableRelay } from '../lib/cut.js';
import { startPageServer } from '../lib/page.js';
import { browserFor } from '../lib/browser.js';

const APP = app({ enable_client_messages: true });
const EVENTS = 20;

/** A typical dashboard payload: about 1 KB of JSON, like a router-stats broadcast. */
function stats(n) {
  return {
    n,
    at: `2026-12-04T10:00:${String(n % 60).padStart(2, '0')}Z`,
    routers: Array.from({ length: 10 }, (_, i) => ({
      name: `edge-${i + 1}`, status: i === 3 ? 'degraded' : 'up',
      rx_bytes: 1_234_567 + i * 977 * (n + 1), tx_bytes: 7_654_321 - i * 613 * (n + 1),
      cpu: Number((0.3 + ((i * 7 + n) % 10) / 20).toFixed(2)), memory: 0.61,
    })),
  };
}

const url = (port) => `ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`;

/** A raw client whose `ws` offers compression as `perMessageDeflate` says (false: no offer). */
const connect = (port, perMessageDeflate) => RawClient.connect(url(port), { wsOptions: { perMessageDeflate } });

async function receiveAll(client, channel) {
  await waitUntil(() => client.all((f) => f.event === 'stats.updated' && f.channel === channel).length >= EVENTS, 10_000, `${EVENTS} events`);
  return client.all((f) => f.event === 'stats.updated' && f.channel === channel).map((f) => f.data);
}

test('ws offering compression gets 1 KB events intact and at least 3x smaller on the wire than a client that declined', async (t) => {
  const srv = await startServer({ apps: [APP] });
  t.after(() => srv.stop());
  const [compressedPath, plainPath] = [await startCuttableRelay(t, srv.port), await startCuttableRelay(t, srv.port)];
  const compressed = await connect(compressedPath.port, true);
  const plain = await connect(plainPath.port, false);
  t.after(() => { compressed.close(); plain.close(); });
  assert.equal(compressed.ws.extensions, 'permessage-deflate');
  assert.equal(plain.ws.extensions, '');
  await compressed.subscribeOk('dashboard');
  await plain.subscribeOk('dashboard');
  const size = JSON.stringify(stats(0)).length;
  assert.ok(size > 900 && size < 1200, `a 1 KB payload (${size} bytes)`);

  const before = [compressedPath.bytes().toClient, plainPath.bytes().toClient];
  const sdk = makeSdk(srv.port, APP);
  for (let n = 0; n < EVENTS; n += 1) await sdk.trigger('dashboard', 'stats.updated', stats(n));
  const expected = Array.from({ length: EVENTS }, (_, n) => stats(n));
  assert.deepEqual(await receiveAll(compressed, 'dashboard'), expected);
  assert.deepEqual(await receiveAll(plain, 'dashboard'), expected);
  await compressed.ping();
  await plain.ping();
  const compressedBytes = compressedPath.bytes().toClient - before[0];
  const plainBytes = plainPath.bytes().toClient - before[1];
  const ratio = plainBytes / compressedBytes;
  t.diagnostic(`on the wire for ${EVENTS} events: ${plainBytes} bytes plain, ${compressedBytes} compressed (${ratio.toFixed(2)}x)`);
  assert.ok(ratio >= 3, `at least 3x fewer bytes: ${plainBytes} vs ${compressedBytes}`);
});

test('compressed client messages are read: subscribe with auth and a whisper, all sent compressed', async (t) => {
  const srv = await startServer({ apps: [APP] });
  t.after(() => srv.stop());
  const relay = await startCuttableRelay(t, srv.port);
  // `threshold: 0`: ws compresses every message it sends, however short.
  const sender = await connect(relay.port, { threshold: 0 });
  const receiver = await connect(srv.port, true);
  t.after(() => { sender.close(); receiver.close(); });
  await receiver.subscribePrivate('private-room', APP);
  const sentBefore = relay.bytes().toServer;
  await sender.subscribePrivate('private-room', APP);
  const whisper = { event: 'client-typing', channel: 'private-room', data: { user: 'ada', text: 'x'.repeat(2000) } };
  sender.send(whisper);
  const got = await receiver.nextEvent('client-typing', 'private-room');
  assert.deepEqual(got.data, whisper.data);
  // The 2 KB of repeated text went over the wire compressed.
  assert.ok(relay.bytes().toServer - sentBefore < 1000, `compressed on the way in: ${relay.bytes().toServer - sentBefore} bytes`);
});

test('a compressed message that inflates past max_ws_message_kb is refused with 1009; other sockets carry on', async (t) => {
  const srv = await startServer({ server: { max_ws_message_kb: 64 }, apps: [APP] });
  t.after(() => srv.stop());
  const bomber = await connect(srv.port, { threshold: 0 });
  const bystander = await connect(srv.port, true);
  t.after(() => bystander.close());
  // 1 MB of one letter compresses to about 1 KB.
  bomber.send({ event: 'pusher:ping', data: { pad: 'a'.repeat(1_000_000) } });
  const closed = await bomber.waitClosed();
  assert.equal(closed.code, 1009);
  assert.match(closed.reason, /too big/);
  await bystander.subscribeOk('dashboard');
  await bystander.ping();
});

test('ws_compression = false declines the offer and sends every frame as it is', async (t) => {
  const srv = await startServer({ server: { ws_compression: false }, apps: [APP] });
  t.after(() => srv.stop());
  const relay = await startCuttableRelay(t, srv.port);
  const client = await connect(relay.port, true);
  t.after(() => client.close());
  assert.equal(client.ws.extensions, '');
  await client.subscribeOk('dashboard');
  const before = relay.bytes().toClient;
  await makeSdk(srv.port, APP).trigger('dashboard', 'stats.updated', stats(1));
  const frame = await client.nextEvent('stats.updated', 'dashboard');
  assert.deepEqual(frame.data, stats(1));
  await client.ping();
  assert.ok(relay.bytes().toClient - before > frame.raw.length, 'the whole frame went over the wire');
});

test('pusher-js in Chromium negotiates permessage-deflate and receives compressed events intact', async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const srv = await startServer({ apps: [APP] });
  t.after(() => srv.stop());
  const relay = await startCuttableRelay(t, srv.port);
  const pages = await startPageServer(t, srv.port, { appCfg: APP });
  const page = await browser.newPage();
  await page.goto(pages.page('dashboard'));
  const extensions = await page.evaluate(async (port) => {
    window.received = [];
    const pusher = new Pusher('app-key', {
      cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, forceTLS: false, disableStats: true,
      enabledTransports: ['ws'], channelAuthorization: { endpoint: '/auth?user=1', transport: 'ajax' },
    });
    window.pusher = pusher;
    const channel = pusher.subscribe('private-dashboard-stats');
    channel.bind('stats.updated', (data) => window.received.push(data));
    await new Promise((resolve, reject) => {
      channel.bind('pusher:subscription_succeeded', resolve);
      setTimeout(() => reject(new Error(`not subscribed: ${pusher.connection.state}`)), 15_000);
    });
    return pusher.connection.connection.transport.socket.extensions;
  }, relay.port);
  assert.match(extensions, /^permessage-deflate/, `Chromium's negotiated extensions: ${extensions}`);
  const before = relay.bytes().toClient;
  const sdk = makeSdk(srv.port, APP);
  for (let n = 0; n < EVENTS; n += 1) await sdk.trigger('private-dashboard-stats', 'stats.updated', stats(n));
  await page.waitForFunction((count) => window.received.length >= count, EVENTS, { timeout: 15_000 });
  assert.deepEqual(await page.evaluate(() => window.received), Array.from({ length: EVENTS }, (_, n) => stats(n)));
  const perEvent = (relay.bytes().toClient - before) / EVENTS;
  const plainFrame = JSON.stringify({ event: 'stats.updated', channel: 'private-dashboard-stats', data: JSON.stringify(stats(10)) }).length;
  t.diagnostic(`Chromium: ${perEvent.toFixed(0)} bytes per event on the wire, ${plainFrame} uncompressed`);
  assert.ok(perEvent * 3 <= plainFrame, `at least 3x fewer bytes: ${perEvent} vs ${plainFrame}`);
});
