// Redis Sentinel as a managed Redis runs it: a master, a replica and a sentinel of the
// test's own (redis-server in sentinel mode), on free ports. Two sockwave nodes find the
// master through the sentinel (Soketi's names: SOKETI_DB_REDIS_SENTINELS and
// SOKETI_DB_REDIS_INSTANCE_NAME) and cluster over it; then the master is killed, the
// sentinel promotes the replica, and the nodes follow: an event published on one node again
// reaches pusher-js on the other. Without redis-server: NOT RUN (or a failure when
// SOCKWAVE_TEST_REQUIRE_SERVICES=1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../lib/server.js';
import { makePusher, pusherSubscribe, once, waitUntil } from '../lib/clients.js';
import { converge, needEngineBinary, startNode, clusterOptions, portOpen, redisCommand, spawnRedis } from '../lib/cluster.js';

/** The pub/sub channels a Redis server has subscribers on. */
const pubsubChannels = (port) => redisCommand(port, ['PUBSUB', 'CHANNELS']);

test('two nodes follow a Sentinel failover of their Redis master', { timeout: 60_000 }, async (t) => {
  const bin = needEngineBinary(t, 'redis');
  if (!bin) return;
  const [masterPort, replicaPort, sentinelPort] = [await freePort(), await freePort(), await freePort()];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-sentinel-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // Replication writes an RDB file even without `save`: keep it in the temp dir.
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const master = spawnRedis(t, bin, ['--port', String(masterPort), ...common], 'master');
  const replica = spawnRedis(t, bin, ['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(masterPort), ...common], 'replica');
  const conf = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(conf, [
    `port ${sentinelPort}`,
    'bind 127.0.0.1',
    `sentinel monitor mymaster 127.0.0.1 ${masterPort} 1`,
    'sentinel down-after-milliseconds mymaster 1000',
    'sentinel failover-timeout mymaster 5000',
    '',
  ].join('\n'));
  const sentinel = spawnRedis(t, bin, [conf, '--sentinel'], 'sentinel');
  await waitUntil(async () => (await portOpen(masterPort)) && (await portOpen(replicaPort)) && (await portOpen(sentinelPort)),
    5000, 'master, replica and sentinel listening', 50);
  // The sentinel has seen the replica (it can only fail over to a replica it knows).
  await waitUntil(() => /\+slave slave 127\.0\.0\.1:\d+/.test(sentinel.logs), 15_000, 'the sentinel discovering the replica', 100)
    .catch((e) => { throw new Error(`${e.message}\n${sentinel.logs}`); });

  const cluster = clusterOptions('redis', { url: 'redis://127.0.0.1:6379/0' });
  const viaEnv = {
    SOKETI_ADAPTER_DRIVER: 'redis',
    SOKETI_ADAPTER_REDIS_PREFIX: cluster.prefix,
    SOKETI_DB_REDIS_SENTINELS: JSON.stringify([{ host: '127.0.0.1', port: sentinelPort }]),
    SOKETI_DB_REDIS_INSTANCE_NAME: 'mymaster',
  };
  const nodes = [];
  for (let i = 0; i < 2; i += 1) {
    const node = await startNode({ cluster, viaEnv, server: {} });
    t.after(() => node.stop('SIGKILL'));
    nodes.push(node);
  }
  await converge(t, nodes, { ms: 15_000 });
  const [a, b] = nodes;
  const pusher = makePusher(a.port, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-dashboard-stats');
  const first = once(channel, 'stats.updated', 10_000);
  assert.equal((await b.sdk().trigger('private-dashboard-stats', 'stats.updated', { n: 1 })).status, 200);
  await first;
  // The nodes are subscribed on the master the sentinel names (not on some other Redis).
  const channelName = `${cluster.prefix}#sockwave`;
  assert.ok((await pubsubChannels(masterPort)).includes(channelName), 'subscribed on the master');

  // The master dies; the sentinel promotes the replica; the nodes reconnect to it.
  master.proc.kill('SIGKILL');
  await waitUntil(() => /\+switch-master mymaster/.test(sentinel.logs), 20_000, 'the sentinel failing over', 100)
    .catch((e) => { throw new Error(`${e.message}\n${sentinel.logs}`); });
  await waitUntil(async () => {
    const received = once(channel, 'stats.updated', 1000, (data) => data?.n === 2).then(() => true, () => false);
    await b.sdk().trigger('private-dashboard-stats', 'stats.updated', { n: 2 });
    return received;
  }, 25_000, 'an event across the nodes through the promoted master', 200);
  // ... and now on the promoted replica.
  assert.ok((await pubsubChannels(replicaPort)).includes(channelName), 'subscribed on the promoted replica');
  assert.match(a.logs() + b.logs(), /cluster engine unreachable/);
  void replica;
});
