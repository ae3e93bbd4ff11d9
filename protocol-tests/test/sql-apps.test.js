// Apps from MariaDB and PostgreSQL in Soketi's schema, configured with Soketi's own names,
// against the machine's database servers (each test makes and drops its own database):
// pusher-js and the SDK with an app from the table; a new row, a changed secret, a new limit
// and `enabled = 0` taking effect within the TTL without a restart (open sockets of the
// disabled app get 4003); and a database outage (a relay in front of the database is cut):
// apps already read keep working, unknown keys are refused with a log line naming the
// database's error, /ready says so, and everything recovers when the database is back.
// Without the database servers the tests say NOT RUN, unless SOCKWAVE_TEST_REQUIRE_SERVICES=1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from '../lib/server.js';
import { RawClient, makePusher, makeSdk, pusherSubscribe, once, waitUntil, sdkError } from '../lib/clients.js';
import { portOpen, servicesRequired } from '../lib/cluster.js';
import { DATABASES, createAppsDatabase, insertApp, startRelay } from '../lib/sql.js';

const TTL = 1;

async function needDatabase(t, kind) {
  const { name, port } = DATABASES[kind];
  if (await portOpen(port)) return true;
  const why = `${name} is not reachable at 127.0.0.1:${port} (start it to run the SQL app manager tests)`;
  if (servicesRequired()) throw new Error(`${why}, and the services are required`);
  t.skip(`NOT RUN: ${why}`);
  return false;
}

/** sockwave on the relay, configured the Soketi way: MariaDB by a Soketi JSON file, PostgreSQL by SOKETI_* variables. */
async function startOnDatabase(t, kind, database, relayPort) {
  if (kind === 'mysql') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-sql-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const configText = JSON.stringify({
      appManager: { driver: 'mysql', cache: { enabled: true, ttl: TTL }, mysql: { table: 'apps', version: '8.0' } },
      database: { mysql: { host: '127.0.0.1', port: relayPort, user: 'root', password: '', database } },
    });
    return startServer({ configText, configName: 'soketi.json' });
  }
  return startServer({
    env: {
      SOKETI_APP_MANAGER_DRIVER: 'postgres',
      SOKETI_APP_MANAGER_CACHE_ENABLED: 'true',
      SOKETI_APP_MANAGER_CACHE_TTL: String(TTL),
      SOKETI_DB_POSTGRES_HOST: '127.0.0.1',
      SOKETI_DB_POSTGRES_PORT: String(relayPort),
      SOKETI_DB_POSTGRES_USERNAME: 'postgres',
      SOKETI_DB_POSTGRES_DATABASE: database,
    },
  });
}

const wsUrl = (port, key) => `ws://127.0.0.1:${port}/app/${key}?protocol=7&client=js&version=8.4.0`;

async function roundTrip(t, port, app, channelName = 'private-dashboard-stats') {
  const pusher = makePusher(port, { t, appCfg: app });
  const { channel } = await pusherSubscribe(pusher, channelName, 10_000);
  const received = once(channel, 'stats.updated', 10_000);
  assert.equal((await makeSdk(port, app).trigger(channelName, 'stats.updated', { ok: 1 })).status, 200);
  await received;
  return pusher;
}

for (const kind of ['mysql', 'postgres']) {
  const { name } = DATABASES[kind];

  test(`${name}: apps from the table, and changes to it within the TTL without a restart`, async (t) => {
    if (!(await needDatabase(t, kind))) return;
    const db = await createAppsDatabase(t, kind);
    const relay = await startRelay(t, DATABASES[kind].port);
    const one = { id: 'app-one', key: 'key-one', secret: 'secret-one' };
    await insertApp(db, one);
    const server = await startOnDatabase(t, kind, db.database, relay.port);
    t.after(() => server.stop());

    // An app from the table serves pusher-js and the SDK; an unknown key is refused (4001).
    const pusher = await roundTrip(t, server.port, one);
    // A socket that stays open while the row changes (client events are on for this app).
    const open = await RawClient.connect(wsUrl(server.port, one.key));
    t.after(() => open.terminate());
    await open.subscribePrivate('private-chat', one);
    open.send({ event: 'client-typing', channel: 'private-chat', data: {} });
    await open.expectNoneAfterPing((f) => f.event === 'pusher:error', 'an error for an allowed client event');
    const stranger = await RawClient.connect(wsUrl(server.port, 'no-such-key'), { expectEstablished: false });
    assert.equal(stranger.first.data?.code ?? JSON.parse(stranger.first.raw).data.code, 4001);
    assert.equal((await stranger.waitClosed()).code, 4001);

    // A new row serves at once (an unknown key is looked up, not refused from memory).
    const two = { id: 'app-two', key: 'key-two', secret: 'secret-two' };
    await insertApp(db, two);
    await waitUntil(async () => {
      const c = await RawClient.connect(wsUrl(server.port, two.key), { expectEstablished: false });
      c.terminate();
      return c.first.event === 'pusher:connection_established';
    }, (TTL + 4) * 1000, 'the new row serving', 200);

    // A changed secret: the old one is refused, the new one accepted, within the TTL.
    await db.query('UPDATE apps SET secret = ? WHERE id = ?', ['secret-one-rotated', one.id]);
    await waitUntil(async () => {
      const res = await makeSdk(server.port, one).trigger('news', 'x', {}).catch((e) => e);
      return res.status === 401;
    }, (TTL + 4) * 1000, 'the old secret refused', 200);
    const rotated = { ...one, secret: 'secret-one-rotated' };
    assert.equal((await makeSdk(server.port, rotated).trigger('news', 'x', {})).status, 200);

    // A switch turned off reaches the socket that was already open.
    await db.query('UPDATE apps SET enable_client_messages = 0 WHERE id = ?', [one.id]);
    await waitUntil(async () => {
      open.send({ event: 'client-typing', channel: 'private-chat', data: {} });
      const error = await open.next((f) => f.event === 'pusher:error', 500, 'client event refused').catch(() => null);
      return error !== null;
    }, (TTL + 4) * 1000, 'client events refused on the open socket', 100);

    // A new limit: 1 KB of event data.
    await db.query('UPDATE apps SET max_event_payload_in_kb = ? WHERE id = ?', [1, one.id]);
    await waitUntil(async () => {
      const res = await makeSdk(server.port, rotated).trigger('news', 'x', 'y'.repeat(2048)).catch((e) => e);
      return res.status === 413;
    }, (TTL + 4) * 1000, 'the new payload limit', 200);

    // Disabled: the open pusher-js socket is closed with 4003, new ones and the API refused.
    const closed = once(pusher.connection, 'error', (TTL * 3 + 5) * 1000,
      (e) => e?.type === 'PusherError' && e?.data?.code === 4003);
    await db.query('UPDATE apps SET "enabled" = 0 WHERE id = ?', [one.id]);
    await closed;
    const refused = await RawClient.connect(wsUrl(server.port, one.key), { expectEstablished: false });
    assert.equal((await refused.waitClosed()).code, 4003);
    assert.equal((await sdkError(makeSdk(server.port, rotated).trigger('news', 'x', {}))).status, 403);
    assert.match(server.logs(), /WARN .*its sockets are closed with 4003 app_id=app-one sockets=2 change=disabled/);
  });

  test(`${name}: an outage keeps the apps already read working, refuses unknown keys with the reason, and recovers`, async (t) => {
    if (!(await needDatabase(t, kind))) return;
    const db = await createAppsDatabase(t, kind);
    const relay = await startRelay(t, DATABASES[kind].port);
    const known = { id: 'known', key: 'known-key', secret: 'known-secret' };
    await insertApp(db, known);
    const server = await startOnDatabase(t, kind, db.database, relay.port);
    t.after(() => server.stop());
    await roundTrip(t, server.port, known);

    await relay.cut();
    // Past the TTL the copy at hand is re-read; the database does not answer, so it is used.
    await new Promise((r) => setTimeout(r, (TTL + 0.5) * 1000));
    await roundTrip(t, server.port, known, 'private-during-outage');
    const late = { id: 'late', key: 'late-key', secret: 'late-secret' };
    await insertApp(db, late); // straight into the database, which is up; sockwave cannot reach it
    const refused = await RawClient.connect(wsUrl(server.port, late.key), { expectEstablished: false });
    assert.equal((await refused.waitClosed()).code, 4001);
    assert.equal((await sdkError(makeSdk(server.port, late).trigger('news', 'x', {}))).status, 503);
    await waitUntil(() => /ERROR .*apps database unreachable/.test(server.logs()), 5000, 'the outage log line');
    assert.match(server.logs(), /WARN .*connection refused: the app could not be looked up app_key=late-key error=apps database unreachable: /);
    const ready = await fetch(`http://127.0.0.1:${server.port}/ready`);
    assert.equal(ready.status, 200);
    assert.match(await ready.text(), /^OK \(apps database unreachable: /);

    await relay.restore();
    await waitUntil(async () => {
      const c = await RawClient.connect(wsUrl(server.port, late.key), { expectEstablished: false });
      c.terminate();
      return c.first.event === 'pusher:connection_established';
    }, 15_000, 'the late app serving after the database is back', 250);
    await roundTrip(t, server.port, late);
    assert.match(server.logs(), /INFO .*apps database answers again/);
    assert.equal(await (await fetch(`http://127.0.0.1:${server.port}/ready`)).text(), 'OK');
  });
}
