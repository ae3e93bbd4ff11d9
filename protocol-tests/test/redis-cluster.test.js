// Redis Cluster as managed offerings run it: three masters of the test's own (redis-server
// with cluster mode on, a password, free ports), slots split between them. Two sockwave
// nodes cluster over it, one configured with sockwave's names (redis_cluster_nodes) and one
// with Soketi's (SOKETI_ADAPTER_REDIS_CLUSTER_MODE, SOKETI_DB_REDIS_CLUSTER_NODES). They
// subscribe on different masters, so every event crosses the Redis Cluster's own bus; the
// HTTP API rate limit is one budget across both nodes, counted in keys the cluster routes
// by slot. Then the master one node listens on is killed: that node moves to the next
// master and events flow again. Without redis-server: NOT RUN (or a failure when
// SOCKWAVE_TEST_REQUIRE_SERVICES=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { app, freePort } from '../lib/server.js';
import { makePusher, pusherSubscribe, once, waitUntil } from '../lib/clients.js';
import { converge, needEngineBinary, startNode, clusterOptions, portOpen, redisCommand, spawnRedis } from '../lib/cluster.js';

const PASSWORD = 'cluster-s3cret';
const SLOTS = 16384;

/** Starts `n` empty cluster-mode masters and gives each a third of the slots. */
async function startRedisCluster(t, bin, n) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-redis-cluster-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const masters = [];
  for (let i = 0; i < n; i += 1) {
    // The cluster bus port is chosen too: port + 10000 may be taken or out of range.
    const [port, busPort] = [await freePort(), await freePort()];
    const server = spawnRedis(t, bin, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
      '--cluster-port', String(busPort), '--cluster-node-timeout', '1000',
      '--requirepass', PASSWORD, '--masterauth', PASSWORD,
    ], `master ${i}`);
    masters.push({ ...server, port, busPort });
  }
  await waitUntil(async () => (await Promise.all(masters.map((m) => portOpen(m.port)))).every(Boolean),
    5000, 'the Redis Cluster masters listening', 50);
  const auth = { password: PASSWORD };
  for (const [i, master] of masters.entries()) {
    const first = Math.floor((SLOTS * i) / n);
    const last = Math.floor((SLOTS * (i + 1)) / n) - 1;
    await redisCommand(master.port, ['CLUSTER', 'ADDSLOTSRANGE', first, last], auth);
  }
  for (const other of masters.slice(1)) {
    await redisCommand(masters[0].port, ['CLUSTER', 'MEET', '127.0.0.1', other.port, other.busPort], auth);
  }
  await waitUntil(async () => {
    const infos = await Promise.all(masters.map((m) => redisCommand(m.port, ['CLUSTER', 'INFO'], auth)));
    return infos.every((info) => /cluster_state:ok/.test(info) && /cluster_known_nodes:3/.test(info));
  }, 15_000, 'the Redis Cluster to form (cluster_state:ok on every master)', 100);
  return masters;
}

const pubsubChannels = (port) => redisCommand(port, ['PUBSUB', 'CHANNELS'], { password: PASSWORD });

/**
 * Resolves when an event with data.n === n, published through `sdk` (retried; a refusal by
 * the rate limit only means another try), reaches `channel`.
 */
async function crosses(channel, sdk, n, label) {
  await waitUntil(async () => {
    const received = once(channel, 'stats.updated', 1000, (data) => data?.n === n).then(() => true, () => false);
    await sdk.trigger('private-dashboard-stats', 'stats.updated', { n }).catch(() => {});
    return received;
  }, 20_000, label, 200);
}

test('two nodes cluster over a 3-master Redis Cluster and follow a dead master', { timeout: 90_000 }, async (t) => {
  const bin = needEngineBinary(t, 'redis');
  if (!bin) return;
  const masters = await startRedisCluster(t, bin, 3);
  const [m0, m1, m2] = masters;
  const limited = app({ max_backend_events_per_second: 3 });
  const cluster = clusterOptions('redis', { url: `redis://:${PASSWORD}@127.0.0.1:6379/0` });
  const a = await startNode({
    cluster,
    apps: [limited],
    env: { SOCKWAVE_CLUSTER_REDIS_CLUSTER_NODES: [m0, m1, m2].map((m) => `127.0.0.1:${m.port}`).join(',') },
  });
  t.after(() => a.stop('SIGKILL'));
  const b = await startNode({
    cluster,
    apps: [limited],
    viaEnv: {
      SOKETI_ADAPTER_DRIVER: 'redis',
      SOKETI_ADAPTER_REDIS_PREFIX: cluster.prefix,
      SOKETI_ADAPTER_REDIS_CLUSTER_MODE: 'true',
      SOKETI_DB_REDIS_CLUSTER_NODES: JSON.stringify([m1, m2, m0].map((m) => ({ host: '127.0.0.1', port: m.port }))),
      SOKETI_DB_REDIS_PASSWORD: PASSWORD,
    },
  });
  t.after(() => b.stop('SIGKILL'));
  await converge(t, [a, b], { ms: 15_000, appCfg: limited });

  // Each node listens on the first master of its own list: messages cross the cluster bus.
  const channelName = `${cluster.prefix}#sockwave`;
  assert.ok((await pubsubChannels(m0.port)).includes(channelName), 'node a subscribed on master 0');
  assert.ok((await pubsubChannels(m1.port)).includes(channelName), 'node b subscribed on master 1');
  assert.ok(!(await pubsubChannels(m2.port)).includes(channelName), 'nobody subscribed on master 2');

  const onA = makePusher(a.port, { t, appCfg: limited });
  const { channel: channelA } = await pusherSubscribe(onA, 'private-dashboard-stats');
  const onB = makePusher(b.port, { t, appCfg: limited });
  const { channel: channelB } = await pusherSubscribe(onB, 'private-dashboard-stats');
  const atA = once(channelA, 'stats.updated', 10_000, (data) => data?.n === 1);
  assert.equal((await b.sdk(limited).trigger('private-dashboard-stats', 'stats.updated', { n: 1 })).status, 200);
  await atA;
  const atB = once(channelB, 'stats.updated', 10_000, (data) => data?.n === 2);
  assert.equal((await a.sdk(limited).trigger('private-dashboard-stats', 'stats.updated', { n: 2 })).status, 200);
  await atB;

  // One budget of 3 events per second for both nodes: of 2 + 2 requests in one second, one
  // is refused. Started early in a fresh wall-clock second (the window the limit counts in),
  // after the one the events above were published in.
  const spentIn = Math.floor(Date.now() / 1000);
  await waitUntil(() => Math.floor(Date.now() / 1000) > spentIn && Date.now() % 1000 < 200, 2500, 'the start of a fresh second', 5);
  const statuses = await Promise.all([a, a, b, b].map((node, i) => node.sdk(limited)
    .trigger(`limit-${i}`, 'tick', {}).then((res) => res.status, (err) => err.status)));
  assert.deepEqual(statuses.slice().sort(), [200, 200, 200, 429], `statuses ${statuses}`);
  // The counters live in the Redis Cluster (on whichever masters own their slots).
  const keys = (await Promise.all(masters.map((m) => redisCommand(m.port, ['KEYS', `${cluster.prefix}:ratelimit:*`], { password: PASSWORD })))).flat();
  assert.ok(keys.length > 0, 'rate-limit keys in the Redis Cluster');
  assert.doesNotMatch(a.logs() + b.logs(), /rate limits: Redis unreachable/);

  // Master 0 dies: node a's subscription drops and it moves on to master 1; node b stays.
  m0.proc.kill('SIGKILL');
  await crosses(channelA, b.sdk(limited), 3, 'an event from b reaching a after master 0 died');
  await crosses(channelB, a.sdk(limited), 4, 'an event from a reaching b after master 0 died');
  assert.ok((await pubsubChannels(m1.port)).includes(channelName), 'node a now subscribed on master 1');
  assert.match(a.logs(), /cluster engine unreachable/);
});
