// An idle pusher-js client behind nginx with nginx's default timeouts (60 s read and send:
// the doc's `proxy_read_timeout` / `proxy_send_timeout` lines are dropped) and sockwave's
// default settings stays connected: the default activity_timeout (30 s) puts a ping and a pong
// on the connection well within nginx's 60 s. With hosted Pusher's 120 s, nginx cut such a
// client and it reconnected every 61 s. This test idles for 75 s on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, DEFAULT_APP } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, sleep } from '../lib/clients.js';
import { makePki } from '../lib/tls.js';
import { startNginx, substitute } from '../lib/nginx.js';

const IDLE_MS = 75_000;

test('idle pusher-js through nginx with its default 60 s timeouts stays on one connection for 75 s', { timeout: IDLE_MS + 30_000 }, async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startServer({ apps: [DEFAULT_APP] });
  t.after(() => server.stop());
  const proxy = await startNginx(t, {
    upstreamPort: server.port,
    pki,
    edit: (site) => substitute(substitute(site, 'proxy_read_timeout 3600s;', ''), 'proxy_send_timeout 3600s;', ''),
  });
  if (!proxy) return;

  const pusher = makePusher(proxy.httpPort, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-dashboard-stats');
  const socketId = pusher.connection.socket_id;
  const states = [];
  pusher.connection.bind('state_change', ({ current }) => states.push(current));

  await sleep(IDLE_MS);

  assert.equal(pusher.connection.state, 'connected');
  assert.equal(pusher.connection.socket_id, socketId, `reconnected while idle: states ${states.join(' -> ')}`);
  assert.deepEqual(states, [], 'no state change while idle');
  // And it still receives.
  const received = once(channel, 'stats.updated');
  assert.equal((await makeSdk(server.port).trigger('private-dashboard-stats', 'stats.updated', { n: 1 })).status, 200);
  await received;
});
