// `sockwave health`, the container health check, against the built binary: it reads the
// same configuration as the server (file, environment, flags), asks GET /ready on that port
// (https when TLS is on) and exits 0 when ready, 1 otherwise (Docker reserves 2), also for
// a configuration it cannot load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { BIN, startServer, freePort } from '../lib/server.js';
import { makePki, httpsStatus } from '../lib/tls.js';

function health(args = [], env = {}) {
  const result = spawnSync(BIN, ['health', ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 15_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('ready server: exit 0, from the config file and from the environment alone', async (t) => {
  const server = await startServer();
  t.after(() => server.stop());
  const fromFile = health(['--config', server.configFile]);
  // The config file says host 127.0.0.1 and the port.
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromFile.stdout, `ready: http://127.0.0.1:${server.port}/ready: 200 OK\n`);
  const fromEnv = health([], { SOCKWAVE_PORT: String(server.port) });
  assert.equal(fromEnv.code, 0, fromEnv.stderr);
  const soketi = health([], { SOKETI_PORT: String(server.port) });
  assert.equal(soketi.code, 0, soketi.stderr);
});

test('nothing listening: exit 1 and the reason', async () => {
  const port = await freePort();
  const result = health([], { SOCKWAVE_PORT: String(port) });
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, new RegExp(`^not ready: http://127\\.0\\.0\\.1:${port}/ready: .*Connection refused`));
});

test('TLS on: the check asks over https', async (t) => {
  const pki = makePki();
  t.after(() => pki.remove());
  const server = await startServer({
    server: { tls_cert: pki.cert, tls_key: pki.key },
    probe: (port) => httpsStatus(port, pki.ca),
  });
  t.after(() => server.stop());
  const result = health(['--config', server.configFile]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, `ready: https://127.0.0.1:${server.port}/ready: 200 OK\n`);
});

test('a configuration that does not load: exit 1 (not 2, which Docker reserves), naming the key', () => {
  const result = health([], { SOCKWAVE_PORT: 'not-a-port' });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /SOCKWAVE_PORT/);
});
