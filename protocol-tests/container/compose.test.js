// examples/compose run as users run it (with compose.host-network.yaml on top, since the test
// machines have no bridge network): Redis, two sockwave nodes, nginx in front with the
// example's nginx.conf. pusher-js connects through nginx; the event is published straight to
// the node that does NOT hold its socket, so it can only arrive through Redis. Then the whole
// setup is torn down and nothing of it may be left running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, DEFAULT_APP } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, once, waitUntil } from '../lib/clients.js';
import { portOpen } from '../lib/cluster.js';
import { IMAGE, docker, dockerStatus } from '../lib/docker.js';

const run = promisify(execFile);
const DIR = path.join(REPO_ROOT, 'examples', 'compose');
const PROJECT = `sockwave-compose-test-${process.pid}`;
// The ports the example uses with host networking: nginx, the two nodes, their metrics, Redis.
const PORTS = { nginx: 8080, node1: 6001, node2: 6002, metrics1: 9601, metrics2: 9602, redis: 6390 };

/** `docker compose` (the plugin) when it is there, else the standalone `docker-compose`. */
async function composeCommand() {
  if ((await dockerStatus(['compose', 'version'])).code === 0) return ['docker', ['compose']];
  try {
    await run('docker-compose', ['version']);
    return ['docker-compose', []];
  } catch {
    return null;
  }
}

async function compose(cmd, args, { timeout = 120_000 } = {}) {
  const [bin, pre] = cmd;
  const env = { ...process.env, SOCKWAVE_IMAGE: IMAGE, REDIS_PORT: String(PORTS.redis) };
  try {
    const { stdout, stderr } = await run(bin, [...pre, '-p', PROJECT, '-f', 'compose.yaml', '-f', 'compose.host-network.yaml', ...args], {
      cwd: DIR, env, timeout, maxBuffer: 16 * 1024 * 1024,
    });
    return stdout + stderr;
  } catch (err) {
    throw new Error(`${bin} ${[...pre, ...args].join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** This node's `connected` gauge for the app (0 when the app has no row yet). */
async function connectedOn(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`sockwave_connected{app_id="${DEFAULT_APP.id}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('compose: pusher-js through nginx receives an event published to the other node', async (t) => {
  const cmd = await composeCommand();
  if (!cmd) {
    if (process.env.SOCKWAVE_TEST_REQUIRE_SERVICES === '1') throw new Error('neither `docker compose` nor `docker-compose` is installed (apt-get install -y docker-compose)');
    t.skip('NOT RUN: neither `docker compose` nor `docker-compose` is installed (apt-get install -y docker-compose)');
    return;
  }
  for (const [name, port] of Object.entries(PORTS)) {
    assert.ok(!(await portOpen(port)), `port ${port} (${name}) is taken; the example needs it free`);
  }
  t.after(async () => {
    await compose(cmd, ['down', '--volumes', '--timeout', '10']).catch((err) => console.log(`# teardown: ${err.message}`));
  });
  await compose(cmd, ['up', '-d', '--no-build']);

  await waitUntil(async () => {
    for (const port of [PORTS.node1, PORTS.node2]) {
      const res = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null);
      if (res?.status !== 200) return false;
    }
    const proxied = await fetch(`http://127.0.0.1:${PORTS.nginx}/up`).catch(() => null);
    return proxied?.status === 200;
  }, 30_000, 'both nodes ready (with their Redis) and nginx proxying', 200)
    .catch(async (err) => { throw new Error(`${err.message}\n${await compose(cmd, ['logs', '--no-color']).catch((e) => e.message)}`); });

  // Through nginx, the way browsers connect.
  const pusher = makePusher(PORTS.nginx, { t });
  const { channel } = await pusherSubscribe(pusher, 'private-dashboard-stats', 10_000);
  const [on1, on2] = [await connectedOn(PORTS.metrics1), await connectedOn(PORTS.metrics2)];
  assert.equal(on1 + on2, 1, `one socket in all: node 1 has ${on1}, node 2 has ${on2}`);
  const other = on1 === 1 ? PORTS.node2 : PORTS.node1;

  const sdk = makeSdk(other);
  await waitUntil(async () => {
    const res = await sdk.get({ path: '/channels/private-dashboard-stats' });
    return (await res.json()).occupied === true;
  }, 10_000, 'the other node seeing the subscription');
  const received = once(channel, 'stats.updated', 10_000);
  const res = await sdk.trigger('private-dashboard-stats', 'stats.updated', { from: other });
  assert.equal(res.status, 200);
  const payload = await received;
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { from: other });

  // The HTTP API through nginx too (Laravel pointed at the proxy).
  const viaProxy = makeSdk(PORTS.nginx);
  const again = once(channel, 'stats.updated', 10_000);
  assert.equal((await viaProxy.trigger('private-dashboard-stats', 'stats.updated', { via: 'nginx' })).status, 200);
  const second = await again;
  assert.deepEqual(Array.isArray(second) ? second[0] : second, { via: 'nginx' });
  pusher.disconnect();

  // The users' default (bridge network, compose.override.yaml publishing nginx's port) is
  // the same services; Compose must accept it as it is.
  const [bin, pre] = cmd;
  await run(bin, [...pre, '-f', 'compose.yaml', '-f', 'compose.override.yaml', 'config', '-q'], { cwd: DIR });

  // Torn down: no container of the project is left, and the ports are free again.
  await compose(cmd, ['down', '--volumes', '--timeout', '10']);
  const left = (await docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${PROJECT}`, '--format', '{{.Names}}'])).trim();
  assert.equal(left, '', `containers left after down: ${left}`);
  for (const [name, port] of Object.entries(PORTS)) {
    assert.ok(!(await portOpen(port)), `port ${port} (${name}) still open after down`);
  }
});

test('docs/docker.md shows the tested compose files verbatim', () => {
  const page = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'docker.md'), 'utf8');
  for (const file of ['compose.yaml', 'compose.override.yaml', 'compose.host-network.yaml', 'nginx.conf']) {
    const text = fs.readFileSync(path.join(DIR, file), 'utf8');
    assert.ok(page.includes(text), `docs/docker.md must include examples/compose/${file} unchanged`);
  }
});
