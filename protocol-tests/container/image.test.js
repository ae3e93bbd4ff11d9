// The sockwave image, run with the real Docker engine the way users run it: configured by
// environment variables only, read-only, as a non-root PID 1, health-checked with its own
// `sockwave health`, stopped with SIGTERM/SIGINT. Real clients (pusher-js, the pusher SDK,
// raw WebSockets) talk to it over the host network. scripts/container-tests builds the image
// from a clean copy of the repository and runs this file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../lib/server.js';
import { RawClient, makePusher, makeSdk, pusherSubscribe, once, waitUntil } from '../lib/clients.js';
import { needSharedEngine, SHARED } from '../lib/cluster.js';
import {
  IMAGE, docker, dockerStatus, inspect, logs, processStatus, runImage, waitUp,
} from '../lib/docker.js';

const APP = Object.freeze({ id: 'dash-1', key: 'dash-key-1', secret: 'dash-secret-1' });

const sockwaveEnv = (port, app = APP) => ({
  SOCKWAVE_PORT: port,
  SOCKWAVE_APP_ID: app.id,
  SOCKWAVE_APP_KEY: app.key,
  SOCKWAVE_APP_SECRET: app.secret,
});

/** pusher-js subscribes to a private channel; the SDK publishes; the event must arrive. */
async function roundTrip(t, subscribePort, publishPort, app, channelName = 'private-dashboard-stats') {
  const pusher = makePusher(subscribePort, { t, appCfg: app });
  const { channel } = await pusherSubscribe(pusher, channelName, 10_000);
  const received = once(channel, 'stats.updated', 10_000);
  const res = await makeSdk(publishPort, app).trigger(channelName, 'stats.updated', { cpu: 42 });
  assert.equal(res.status, 200);
  const payload = await received;
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { cpu: 42 });
  pusher.disconnect();
}

test('the image: small, non-root, a curl-free health check, exec-form entrypoint', async () => {
  const [info] = JSON.parse(await docker(['image', 'inspect', IMAGE]));
  const mb = info.Size / 1e6;
  console.log(`# image ${IMAGE}: ${mb.toFixed(1)} MB`);
  assert.ok(mb < 100, `image is ${mb.toFixed(1)} MB, more than 100 MB`);
  assert.equal(info.Config.User, '65532:65532');
  assert.deepEqual(info.Config.Healthcheck.Test, ['CMD', '/usr/local/bin/sockwave', 'health']);
  assert.deepEqual(info.Config.Entrypoint, ['/usr/local/bin/sockwave']);
  // No shell to wrap PID 1 (signals reach sockwave itself) and none to exploit.
  const shell = await dockerStatus(['run', '--rm', '--network', 'host', '--entrypoint', '/bin/sh', IMAGE, '-c', 'true']);
  assert.notEqual(shell.code, 0, 'the runtime image has no shell');
});

test('read-only, every capability dropped, non-root: pusher-js and the SDK with env-only config', async (t) => {
  const port = await freePort();
  const id = await runImage(t, sockwaveEnv(port));
  await waitUp(id, port);
  const status = await processStatus(id);
  assert.match(status.Uid, /^65532\s+65532\s+65532\s+65532$/, `uid line: ${status.Uid}`);
  assert.match(status.Gid, /^65532\s/, `gid line: ${status.Gid}`);
  assert.equal(status.CapEff, '0000000000000000');
  assert.equal(await inspect(id, '{{.HostConfig.ReadonlyRootfs}}'), 'true');
  await roundTrip(t, port, port, APP);
  // The default development credentials are not configured: they are refused.
  const res = await makeSdk(port).trigger('x', 'y', {}).catch((err) => err);
  assert.equal(res.status, 404, 'app-id is unknown to this container');
});

test("Soketi's and Laravel's variable names configure the container too", async (t) => {
  const soketiPort = await freePort();
  const soketi = await runImage(t, {
    SOKETI_PORT: soketiPort,
    SOKETI_DEFAULT_APP_ID: 'soketi-id',
    SOKETI_DEFAULT_APP_KEY: 'soketi-key',
    SOKETI_DEFAULT_APP_SECRET: 'soketi-secret',
    // SOCKWAVE_* outranks SOKETI_*: this fails if the image bakes in SOCKWAVE_PORT.
  });
  const laravelPort = await freePort();
  const laravel = await runImage(t, {
    SOCKWAVE_PORT: laravelPort,
    PUSHER_APP_ID: 'laravel-id',
    PUSHER_APP_KEY: 'laravel-key',
    PUSHER_APP_SECRET: 'laravel-secret',
  });
  await waitUp(soketi, soketiPort);
  await waitUp(laravel, laravelPort);
  await roundTrip(t, soketiPort, soketiPort, { id: 'soketi-id', key: 'soketi-key', secret: 'soketi-secret' });
  await roundTrip(t, laravelPort, laravelPort, { id: 'laravel-id', key: 'laravel-key', secret: 'laravel-secret' });
});

test('a Redis-backed cluster of two containers, configured by environment only', async (t) => {
  if (!(await needSharedEngine(t, 'redis'))) return;
  const prefix = `container-${process.pid}-${Date.now()}`;
  const [portA, portB] = [await freePort(), await freePort()];
  // One node in sockwave's names, the other in Soketi's: both spellings build a cluster.
  const a = await runImage(t, {
    ...sockwaveEnv(portA),
    SOCKWAVE_CLUSTER_DRIVER: 'redis',
    SOCKWAVE_CLUSTER_REDIS_URL: SHARED.redis.url,
    SOCKWAVE_CLUSTER_PREFIX: prefix,
    SOCKWAVE_CLUSTER_READY_REQUIRES_ENGINE: 'true',
  });
  const b = await runImage(t, {
    SOCKWAVE_PORT: portB,
    SOKETI_DEFAULT_APP_ID: APP.id,
    SOKETI_DEFAULT_APP_KEY: APP.key,
    SOKETI_DEFAULT_APP_SECRET: APP.secret,
    SOKETI_ADAPTER_DRIVER: 'redis',
    SOKETI_DB_REDIS_HOST: '127.0.0.1',
    SOKETI_DB_REDIS_PORT: String(SHARED.redis.port),
    SOKETI_ADAPTER_REDIS_PREFIX: prefix,
  });
  await waitUp(a, portA);
  await waitUp(b, portB);
  await waitUntil(async () => (await fetch(`http://127.0.0.1:${portA}/ready`)).status === 200,
    10_000, 'node A ready (it requires its Redis)');
  // Subscribed on A, published to B.
  const pusher = makePusher(portA, { t, appCfg: APP });
  const { channel } = await pusherSubscribe(pusher, 'private-dashboard-stats', 10_000);
  const received = once(channel, 'stats.updated', 10_000);
  await waitUntil(async () => {
    const res = await makeSdk(portB, APP).get({ path: '/channels/private-dashboard-stats' });
    const body = await res.json();
    return body.occupied === true;
  }, 10_000, 'node B seeing the subscription on node A');
  const res = await makeSdk(portB, APP).trigger('private-dashboard-stats', 'stats.updated', { node: 'b' });
  assert.equal(res.status, 200);
  const payload = await received;
  assert.deepEqual(Array.isArray(payload) ? payload[0] : payload, { node: 'b' });
});

test('health: `sockwave health` reports ready, and unhealthy when /ready is 503', async (t) => {
  const port = await freePort();
  const healthy = await runImage(t, sockwaveEnv(port), { options: ['--health-interval', '1s'] });
  await waitUp(healthy, port);
  const direct = await dockerStatus(['exec', healthy, '/usr/local/bin/sockwave', 'health']);
  assert.equal(direct.code, 0, direct.stderr);
  assert.match(direct.stdout, new RegExp(`^ready: http://127\\.0\\.0\\.1:${port}/ready: 200 OK`));
  await waitUntil(async () => (await inspect(healthy, '{{.State.Health.Status}}')) === 'healthy',
    20_000, 'Docker marking the container healthy', 250);

  // A node whose cluster engine is unreachable and that must not take traffic without it.
  const deadPort = await freePort();
  const sickPort = await freePort();
  const sick = await runImage(t, {
    ...sockwaveEnv(sickPort),
    SOCKWAVE_CLUSTER_DRIVER: 'redis',
    SOCKWAVE_CLUSTER_REDIS_URL: `redis://127.0.0.1:${deadPort}/0`,
    SOCKWAVE_CLUSTER_READY_REQUIRES_ENGINE: 'true',
  }, { options: ['--health-interval', '1s', '--health-retries', '2'] });
  await waitUp(sick, sickPort);
  const failed = await dockerStatus(['exec', sick, '/usr/local/bin/sockwave', 'health']);
  assert.equal(failed.code, 1, `exit ${failed.code}: ${failed.stdout}${failed.stderr}`);
  assert.match(failed.stderr, /^not ready: .*\/ready: 503 cluster engine unreachable/);
  await waitUntil(async () => (await inspect(sick, '{{.State.Health.Status}}')) === 'unhealthy',
    20_000, 'Docker marking the container unhealthy', 250);
});

for (const [signal, how] of [['SIGTERM', 'docker stop'], ['SIGINT', 'docker kill -s SIGINT']]) {
  test(`${signal} to PID 1 (${how}): every client gets 4200 and the container exits 0 within the grace period`, async (t) => {
    const port = await freePort();
    const grace = 3;
    const id = await runImage(t, { ...sockwaveEnv(port), SOCKWAVE_SHUTDOWN_GRACE_PERIOD: grace });
    await waitUp(id, port);
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.connect(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`)));
    t.after(() => clients.forEach((c) => c.terminate()));
    const started = Date.now();
    if (signal === 'SIGTERM') {
      // Docker's stop timeout is above the grace period, so only sockwave ends the process.
      await docker(['stop', '-t', '20', id], { timeout: 30_000 });
    } else {
      await docker(['kill', '-s', 'SIGINT', id]);
      await docker(['wait', id], { timeout: 30_000 });
    }
    const elapsed = (Date.now() - started) / 1000;
    const closes = await Promise.all(clients.map((c) => c.closed));
    for (const close of closes) assert.equal(close.code, 4200, JSON.stringify(close));
    assert.equal(await inspect(id, '{{.State.ExitCode}}'), '0', await logs(id));
    assert.equal(await inspect(id, '{{.State.OOMKilled}}'), 'false');
    assert.ok(elapsed < grace + 2, `stopped after ${elapsed.toFixed(1)} s (grace ${grace} s)`);
    assert.match(await logs(id), /shutdown complete/);
  });
}

test('logs: plain text without colour codes on a pipe, fields as values; json lines on request', async (t) => {
  const port = await freePort();
  const text = await runImage(t, sockwaveEnv(port));
  const jsonPort = await freePort();
  const json = await runImage(t, { ...sockwaveEnv(jsonPort), SOCKWAVE_LOG_FORMAT: 'json' });
  await waitUp(text, port);
  await waitUp(json, jsonPort);
  for (const p of [port, jsonPort]) {
    const c = await RawClient.connect(`ws://127.0.0.1:${p}/app/${APP.key}?protocol=7&client=js&version=8.4.0`);
    await c.ping();
    c.close();
  }

  await waitUntil(async () => /connection opened/.test(await logs(text)), 5000, 'the connection line');
  const plain = await logs(text);
  assert.ok(!plain.includes('\x1b['), `ANSI escape in: ${JSON.stringify(plain.slice(0, 300))}`);
  const opened = plain.split('\n').find((line) => line.includes('connection opened'));
  assert.match(opened, / client=js version=8\.4\.0/);
  assert.doesNotMatch(plain, /Some\(|=None\b/);

  await waitUntil(async () => /connection opened/.test(await logs(json)), 5000, 'the json connection line');
  const lines = (await logs(json)).split('\n').filter(Boolean);
  const records = lines.map((line) => {
    try { return JSON.parse(line); } catch { assert.fail(`not one JSON object per line: ${line}`); }
  });
  for (const record of records) {
    assert.match(record.timestamp, /^\d{4}-\d\d-\d\dT/);
    assert.ok(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].includes(record.level), JSON.stringify(record));
    assert.equal(typeof record.message, 'string');
  }
  const connection = records.find((r) => r.message === 'connection opened');
  assert.equal(connection.client, 'js');
  assert.equal(connection.version, '8.4.0');
  assert.equal(connection.app_id, APP.id);
  assert.ok(!('origin' in connection), 'an absent Origin header is left out, not logged as None');
});

test('NO_COLOR: colours only on a terminal, and not even there when NO_COLOR is set', async (t) => {
  const [colourPort, plainPort] = [await freePort(), await freePort()];
  const colour = await runImage(t, sockwaveEnv(colourPort), { options: ['-t'] });
  const plain = await runImage(t, { ...sockwaveEnv(plainPort), NO_COLOR: '1' }, { options: ['-t'] });
  await waitUp(colour, colourPort);
  await waitUp(plain, plainPort);
  assert.match(await logs(colour), /\x1b\[/, 'a terminal gets colours (the check below is not vacuous)');
  assert.doesNotMatch(await logs(plain), /\x1b\[/);
});
