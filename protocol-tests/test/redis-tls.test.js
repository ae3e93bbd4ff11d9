// A Redis as clouds run it: TLS only (no plain port), an ACL user with a password, and a
// client certificate required — a redis-server of the test's own (Debian's build has TLS),
// on free ports, with a throw-away CA. Two sockwave nodes cluster over it, one with
// `rediss://user:password@…`, the other with a Soketi config file (`database.redis.*` with
// ioredis' `tls: {}`), both with `redis_tls_ca` and the client certificate: pusher-js on one
// node receives what the SDK publishes on the other. Without a client certificate the node
// cannot reach the engine, and says so on /ready. Without redis-server: NOT RUN (or a failure
// when SOCKWAVE_TEST_REQUIRE_SERVICES=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_APP, freePort, startServer } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, waitUntil } from '../lib/clients.js';
import { converge, needEngineBinary, startNode, clusterOptions, portOpen } from '../lib/cluster.js';
import { makePki } from '../lib/tls.js';

/** A client certificate signed by the PKI's CA: client.pem / client.key in its dir. */
function issueClientCert(pki) {
  const run = (args) => execFileSync('openssl', args, { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=sockwave-node',
    '-keyout', 'client.key', '-out', 'client.csr']);
  fs.writeFileSync(path.join(pki.dir, 'client.cnf'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2',
    '-extfile', 'client.cnf', '-out', 'client.pem']);
  return { cert: path.join(pki.dir, 'client.pem'), key: path.join(pki.dir, 'client.key') };
}

async function startTlsRedis(t, bin, pki) {
  const port = await freePort();
  const proc = spawn(bin, [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', pki.cert, '--tls-key-file', pki.key, '--tls-ca-cert-file', pki.ca,
    '--tls-auth-clients', 'yes',
    '--user', 'default', 'off',
    '--user', 'sockwave', 'on', '>s3cret-pass', '~*', '&*', '+@all',
    '--save', '', '--appendonly', 'no',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  proc.stdout.on('data', (c) => { logs += c; });
  proc.stderr.on('data', (c) => { logs += c; });
  t.after(() => proc.kill('SIGKILL'));
  await waitUntil(() => {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${logs}`);
    return portOpen(port, 200);
  }, 5000, 'the TLS redis-server', 50);
  return port;
}

/** A CA, a client certificate, the TLS-only Redis and the cluster settings for it; null when NOT RUN. */
async function tlsRedisSetup(t) {
  const bin = needEngineBinary(t, 'redis');
  if (!bin) return null;
  const pki = makePki();
  t.after(() => pki.remove());
  const client = issueClientCert(pki);
  const port = await startTlsRedis(t, bin, pki);
  const cluster = clusterOptions('redis', { url: `rediss://sockwave:s3cret-pass@127.0.0.1:${port}/0` });
  return { pki, client, cluster, port };
}

test('two nodes cluster over a TLS-only Redis with an ACL user and a client certificate', async (t) => {
  const setup = await tlsRedisSetup(t);
  if (!setup) return;
  const { pki, client, cluster } = setup;
  const tlsFiles = {
    SOCKWAVE_CLUSTER_REDIS_TLS_CA: pki.ca,
    SOCKWAVE_CLUSTER_REDIS_TLS_CERT: client.cert,
    SOCKWAVE_CLUSTER_REDIS_TLS_KEY: client.key,
  };
  const a = await startNode({ cluster, env: tlsFiles, readyRequiresEngine: true });
  t.after(() => a.stop('SIGKILL'));
  // The other node reads a Soketi config file: its Redis parts, and ioredis' `tls: {}` for
  // TLS (the files have no Soketi spelling: ioredis takes PEM texts, sockwave takes paths).
  const soketi = {
    adapter: { driver: 'redis', redis: { prefix: cluster.prefix } },
    database: { redis: { host: '127.0.0.1', port: setup.port, username: 'sockwave', password: 's3cret-pass', tls: {} } },
    appManager: { array: { apps: [{ id: DEFAULT_APP.id, key: DEFAULT_APP.key, secret: DEFAULT_APP.secret }] } },
  };
  const b = await startServer({
    configName: 'soketi.json',
    configText: JSON.stringify(soketi),
    env: {
      ...tlsFiles,
      SOCKWAVE_CLUSTER_HEARTBEAT_INTERVAL: String(cluster.heartbeat),
      SOCKWAVE_CLUSTER_NODE_TIMEOUT: String(cluster.nodeTimeout),
      SOCKWAVE_CLUSTER_READY_REQUIRES_ENGINE: 'true',
    },
  });
  t.after(() => b.stop('SIGKILL'));
  b.sdk = () => makeSdk(b.port);
  const nodes = [a, b];
  await converge(t, nodes);
  for (const node of nodes) assert.equal((await fetch(`http://127.0.0.1:${node.port}/ready`)).status, 200);

  const pusher = makePusher(a.port, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-dashboard-stats');
  const received = once(channel, 'stats.updated', 10_000);
  assert.equal((await b.sdk().trigger('private-dashboard-stats', 'stats.updated', { via: 'rediss' })).status, 200);
  const payload = await received;
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { via: 'rediss' });

  // Without the client certificate the handshake is refused: the node serves alone and its
  // /ready says the engine is unreachable.
  const lone = await startNode({ cluster, env: { SOCKWAVE_CLUSTER_REDIS_TLS_CA: pki.ca }, readyRequiresEngine: true });
  t.after(() => lone.stop('SIGKILL'));
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${lone.port}/ready`)).status === 503, 10_000, '503 without a client certificate');
  assert.equal(await (await fetch(`http://127.0.0.1:${lone.port}/ready`)).text(), 'cluster engine unreachable');
});

test('rediss:// without the CA that signed the server is refused by certificate verification', async (t) => {
  const setup = await tlsRedisSetup(t);
  if (!setup) return;
  const { client, cluster } = setup;
  // The client certificate is right, but the Mozilla roots do not include the test CA.
  const node = await startNode({
    cluster,
    env: { SOCKWAVE_CLUSTER_REDIS_TLS_CERT: client.cert, SOCKWAVE_CLUSTER_REDIS_TLS_KEY: client.key },
    readyRequiresEngine: true,
  });
  t.after(() => node.stop('SIGKILL'));
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${node.port}/ready`)).status === 503, 10_000, '503 with an untrusted server certificate');
  await waitUntil(() => /redis: .*(certificate|UnknownIssuer|invalid peer)/i.test(node.logs()), 5000, 'a log line naming the certificate problem').catch((e) => { throw new Error(e.message + node.logs()); });
});
