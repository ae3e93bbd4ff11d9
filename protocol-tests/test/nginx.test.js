// pusher-js and the pusher SDK through nginx configured exactly as docs/proxies/nginx.conf
// says (only ports and certificate paths are substituted), over plain ws/http and with TLS
// terminated at nginx. Without nginx the test says NOT RUN, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1
// makes that a failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, REPO_ROOT, DEFAULT_APP } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once } from '../lib/clients.js';
import { makePki, tlsClients } from '../lib/tls.js';
import { startNginx, TEMPLATE } from '../lib/nginx.js';

/** A sockwave behind nginx started from the documented config; null when nginx is NOT RUN. */
async function behindNginx(t) {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startServer();
  t.after(() => server.stop());
  const proxy = await startNginx(t, { upstreamPort: server.port, pki });
  return proxy && { pki, server, proxy };
}

test('pusher-js and the SDK through nginx as docs/proxies/nginx.conf configures it', async (t) => {
  const setup = await behindNginx(t);
  if (!setup) return;
  const { pki, proxy } = setup;

  // Plain ws and http through the proxy.
  const pusher = makePusher(proxy.httpPort, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-orders');
  const sdk = makeSdk(proxy.httpPort);
  const received = once(channel, 'created');
  const res = await sdk.trigger('private-orders', 'created', { id: 1 });
  assert.equal(res.status, 200);
  const payload = await received; // pusher-js passes (data, metadata)
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { id: 1 });
  const channels = await (await sdk.get({ path: '/channels' })).json();
  assert.ok('private-orders' in channels.channels, JSON.stringify(channels));

  // TLS terminated at nginx: pusher-js forceTLS and the SDK useTLS, trusting the test CA.
  const clients = tlsClients({ port: proxy.httpsPort, ca: pki.ca, appCfg: DEFAULT_APP, t });
  assert.match(await clients.ready(), /^READY \d+\.\d+$/);
  assert.match(await clients.command('publish through-tls'), /^GOT through-tls /);
});

test('pusher-js over xhr_streaming and xhr_polling through nginx as docs/proxies/nginx.conf configures it', async (t) => {
  const setup = await behindNginx(t);
  if (!setup) return;
  const { proxy } = setup;
  const sdk = makeSdk(proxy.httpPort);
  for (const transport of ['xhr_streaming', 'xhr_polling']) {
    const pusher = makePusher(proxy.httpPort, {
      t, enabledTransports: [transport], httpHost: '127.0.0.1', httpPort: proxy.httpPort,
    });
    const { channel } = await pusherSubscribe(pusher, `private-orders-${transport}`);
    assert.equal(pusher.connection.connection.transport.name, transport);
    // Several events in a row: the stream must not be held back by the proxy's buffers.
    for (let id = 1; id <= 3; id += 1) {
      const received = once(channel, 'created', 5000, (data) => data?.id === id);
      assert.equal((await sdk.trigger(`private-orders-${transport}`, 'created', { id })).status, 200);
      await received;
    }
    pusher.disconnect();
  }
});

test('docs/proxies.md shows the tested file verbatim, with timeouts above the activity timeout', () => {
  const doc = fs.readFileSync(TEMPLATE, 'utf8');
  const page = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'proxies.md'), 'utf8');
  assert.ok(page.includes(doc), 'docs/proxies.md must include docs/proxies/nginx.conf unchanged');
  for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
    const match = doc.match(new RegExp(`${directive} (\\d+)s;`));
    assert.ok(match, `${directive} is set`);
    assert.ok(Number(match[1]) > 30 + 30, `${directive} ${match[1]}s > activity_timeout + pong_timeout`);
  }
});
