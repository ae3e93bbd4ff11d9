// Prometheus metrics with real clients: Soketi's variable names turn them on with Soketi's
// prefix, and a pusher-js / SDK scenario moves the counters and gauges by the expected amounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, freePort } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, waitUntil } from '../lib/clients.js';

/** The value of `name{app_id="app-id",...}` in a scrape, or undefined. */
function value(text, name, labels = { app_id: 'app-id' }) {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/);
    if (!match || match[1] !== name) continue;
    const pairs = (match[2] || '').split(',');
    if (Object.entries(labels).every(([k, v]) => pairs.includes(`${k}="${v}"`))) return Number(match[3]);
  }
  return undefined;
}

async function scrape(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  return res.text();
}

test('Soketi names enable metrics; a pusher-js and SDK scenario moves counters and gauges', async (t) => {
  const metricsPort = await freePort();
  const server = await startServer({
    env: {
      SOKETI_METRICS_ENABLED: 'true',
      SOKETI_METRICS_SERVER_PORT: String(metricsPort),
      SOKETI_METRICS_PROMETHEUS_PREFIX: 'soketi_',
    },
  });
  t.after(() => server.stop());
  assert.match(server.logs(), new RegExp(`metrics on: GET http://127\\.0\\.0\\.1:${metricsPort}/metrics`));

  const pusher = makePusher(server.port, { t, auth: { user: { user_id: 'u1', user_info: { name: 'One' } } } });
  const { channel } = await pusherSubscribe(pusher, 'news');
  await pusherSubscribe(pusher, 'presence-room');
  let text = await scrape(metricsPort);
  assert.equal(value(text, 'soketi_connected'), 1);
  assert.equal(value(text, 'soketi_new_connections_total'), 1);
  assert.equal(value(text, 'soketi_channels'), 2);
  assert.equal(value(text, 'soketi_presence_members'), 1);
  assert.equal(value(text, 'soketi_ws_messages_received_total'), 2, 'two subscribe frames');
  assert.equal(value(text, 'soketi_http_calls_received_total'), 0);

  const received = once(channel, 'tick');
  const res = await makeSdk(server.port).trigger('news', 'tick', { n: 1 });
  assert.equal(res.status, 200);
  await received;
  text = await scrape(metricsPort);
  assert.equal(value(text, 'soketi_http_calls_received_total'), 1);
  assert.ok(value(text, 'soketi_http_received_bytes') > 0);
  assert.equal(value(text, 'soketi_publish_enqueue_seconds_count'), 1);
  assert.equal(value(text, 'soketi_fanout_seconds_count'), 1, 'one fan-out timed');
  assert.ok(value(text, 'soketi_fanout_seconds_sum') > 0);
  // connection_established, two subscription_succeeded, one event.
  assert.equal(value(text, 'soketi_ws_messages_sent_total'), 4);

  pusher.disconnect();
  await waitUntil(async () => value(await scrape(metricsPort), 'soketi_connected') === 0, 5000, 'connected back to 0');
  text = await scrape(metricsPort);
  assert.equal(value(text, 'soketi_new_disconnections_total'), 1);
  assert.equal(value(text, 'soketi_channels'), 0);
  assert.equal(value(text, 'soketi_presence_members'), 0);
  assert.ok(value(text, 'soketi_process_resident_memory_bytes', {}) > 0);
});

test('metrics are off by default and never served on the public port', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  assert.match(server.logs(), /metrics off/);
  const res = await fetch(server.httpUrl('/metrics'));
  assert.equal(res.status, 404);
});
