// Native TLS with a certificate made for this run: pusher-js (forceTLS) and the Node SDK
// (useTLS) trusting the test CA, the startup line, the hints for the wrong protocol on either
// port, and a reload (new files + SIGHUP) that keeps existing sockets connected while new
// connections get the new certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { startServer, DEFAULT_APP } from '../lib/server.js';
import { waitUntil } from '../lib/clients.js';
import { makePki, httpsStatus, peerFingerprint, tlsClients } from '../lib/tls.js';

async function startTls(t, pki, extra = {}) {
  const server = await startServer({
    server: { tls_cert: pki.cert, tls_key: pki.key, ...extra },
    probe: (port) => httpsStatus(port, pki.ca),
  });
  t.after(() => server.stop());
  return server;
}

/** Sends `text` over plain TCP and resolves everything the server answers. */
function plainExchange(port, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(text));
    let reply = '';
    socket.on('data', (chunk) => { reply += chunk.toString(); });
    socket.on('close', () => resolve(reply));
    socket.on('error', reject);
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('no answer')); });
  });
}

test('pusher-js forceTLS and the SDK useTLS work against a test CA; the startup line names the certificate', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startTls(t, pki);
  assert.match(server.logs(), /TLS on, certificate for localhost, 127\.0\.0\.1, expires /);
  const clients = tlsClients({ port: server.port, ca: pki.ca, appCfg: DEFAULT_APP, t });
  const ready = await clients.ready();
  assert.match(ready, /^READY \d+\.\d+$/);
  const got = await clients.command('publish hello');
  assert.match(got, /^GOT hello /);
});

test('plain HTTP on the TLS port gets a 400 with the hint, and the log says so', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startTls(t, pki);
  const reply = await plainExchange(server.port, 'GET /up HTTP/1.1\r\nhost: x\r\n\r\n');
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.match(reply, /plain HTTP request on the TLS port: use https\/wss, or terminate TLS at the proxy/);
  await waitUntil(() => server.logs().includes('plain HTTP request on the TLS port'), 3000, 'the log line');
});

test('a TLS handshake on the plain port is logged with a precise hint', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  assert.match(server.logs(), /TLS off/);
  await new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, rejectUnauthorized: false });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
  await waitUntil(
    () => server.logs().includes('TLS handshake on a plain port: enable TLS (--tls-cert/--tls-key) or point the client at http/ws'),
    3000, 'the hint in the log',
  );
});

test('pusher-js over xhr_streaming and xhr_polling with forceTLS: the HTTP fallback is served over TLS on the same port', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startTls(t, pki);
  for (const transport of ['xhr_streaming', 'xhr_polling']) {
    const clients = tlsClients({ port: server.port, ca: pki.ca, appCfg: DEFAULT_APP, t, transport });
    assert.match(await clients.ready(), new RegExp(`^READY \\d+\\.\\d+ via ${transport}$`));
    assert.match(await clients.command(`publish over-${transport}`), new RegExp(`^GOT over-${transport} `));
  }
});

test('new certificate files and SIGHUP reload TLS without dropping connected sockets', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startTls(t, pki);
  const clients = tlsClients({ port: server.port, ca: pki.ca, appCfg: DEFAULT_APP, t });
  const [, socketId] = (await clients.ready()).split(' ');
  const before = await peerFingerprint(server.port, pki.ca);

  pki.issue();
  server.proc.kill('SIGHUP');
  await waitUntil(async () => (await peerFingerprint(server.port, pki.ca)) !== before, 5000, 'the new certificate');
  assert.match(server.logs(), /TLS reloaded/);

  const got = await clients.command('publish after-reload');
  const [, name, sameSocket, states] = got.split(' ');
  assert.equal(name, 'after-reload', got);
  assert.equal(sameSocket, socketId, 'the existing socket was kept');
  assert.equal(states, 'connected', 'pusher-js never left the connected state');
  assert.match(await clients.command('fresh'), /^FRESH \d+\.\d+$/, 'a new connection trusts the new certificate');
});

test('--tls-cert and --tls-key flags and Soketi SSL names configure TLS', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const flags = await startServer({ args: ['--tls-cert', pki.cert, '--tls-key', pki.key], probe: (port) => httpsStatus(port, pki.ca) });
  t.after(() => flags.stop());
  assert.match(flags.logs(), /TLS on/);
  const soketi = await startServer({ env: { SOKETI_SSL_CERT: pki.cert, SOKETI_SSL_KEY: pki.key }, probe: (port) => httpsStatus(port, pki.ca) });
  t.after(() => soketi.stop());
  assert.equal(await httpsStatus(soketi.port, pki.ca), 200);
});
