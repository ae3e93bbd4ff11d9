// Channel history and recovery (issue: missed events come back), with raw clients speaking
// the add-on's protocol: positions on frames, `resume_after` on subscribe, the resume
// notices, the HTTP history read, bounds, auth, metrics, and a Redis cluster where clients
// resume on another node. The browser tests with the real add-on are in recovery.test.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { app, freePort, startServer } from '../lib/server.js';
import { RawClient, makeSdk, privateAuth, signedRequest, waitUntil } from '../lib/clients.js';
import {
  clusterOptions, needEngineBinary, needSharedEngine, redisCommand, startCluster, startNode, startOwnEngine,
} from '../lib/cluster.js';

const HISTORY_APP = app({ history_channels: ['history-*', 'private-history-*'], history_max_events: 20 });

async function historyServer(t, appCfg = HISTORY_APP, server = {}) {
  const srv = await startServer({ apps: [appCfg], server });
  t.after(() => srv.stop());
  return srv;
}

function wsUrl(port, appCfg = HISTORY_APP) {
  return `ws://127.0.0.1:${port}/app/${appCfg.key}?protocol=7&client=js&version=8.4.0`;
}

async function connect(t, port, appCfg) {
  const client = await RawClient.connect(wsUrl(port, appCfg));
  t.after(() => client.terminate());
  return client;
}

/** Subscribes as the add-on does; resolves with the resume notice. */
async function subscribeResuming(client, channel, resumeAfter, extra = {}) {
  await client.subscribeOk(channel, { resume_after: resumeAfter, ...extra });
  return client.next(
    (f) => f.channel === channel && ['pusher_internal:resumed', 'pusher_internal:resume_failed'].includes(f.event),
    5000,
    `resume notice on ${channel}`,
  );
}

const events = (client, channel) => client.all((f) => f.channel === channel && f.event === 'tick');

async function publishN(sdk, channel, from, n) {
  for (let i = from; i < from + n; i += 1) {
    await sdk.trigger(channel, 'tick', { i });
  }
}

test('events on history channels carry increasing positions; other channels are unchanged', async (t) => {
  const srv = await historyServer(t);
  const client = await connect(t, srv.port);
  await client.subscribeOk('history-a');
  await client.subscribeOk('plain');
  const sdk = makeSdk(srv.port);
  await publishN(sdk, 'history-a', 0, 3);
  await sdk.trigger('plain', 'tick', { i: 0 });
  await waitUntil(() => events(client, 'plain').length === 1 && events(client, 'history-a').length === 3);
  const positions = events(client, 'history-a').map((f) => f.msg.position);
  const [epoch] = positions[0].split(':');
  assert.deepEqual(positions, [`${epoch}:1`, `${epoch}:2`, `${epoch}:3`]);
  assert.deepEqual(events(client, 'history-a').map((f) => f.data.i), [0, 1, 2]);
  assert.equal(events(client, 'plain')[0].msg.position, undefined, 'no position outside history channels');
  assert.deepEqual(Object.keys(events(client, 'plain')[0].msg).sort(), ['channel', 'data', 'event']);
  // A subscribe without resume_after (a client without the add-on) gets no notice.
  await client.expectNoneAfterPing((f) => f.event?.startsWith('pusher_internal:resume'), 'a resume notice');
});

test('a client that comes back gets what it missed, in order, exactly once, then live events', async (t) => {
  const srv = await historyServer(t);
  const sdk = makeSdk(srv.port);
  const first = await connect(t, srv.port);
  const fresh = await subscribeResuming(first, 'history-a', '');
  assert.equal(fresh.event, 'pusher_internal:resumed');
  assert.match(fresh.msg.position, /^[0-9a-f]{8}:0$/, 'a position before the first event');
  await publishN(sdk, 'history-a', 0, 2);
  await waitUntil(() => events(first, 'history-a').length === 2);
  const last = events(first, 'history-a').at(-1).msg.position;
  first.terminate();

  await publishN(sdk, 'history-a', 2, 5);
  const again = await connect(t, srv.port);
  const notice = await subscribeResuming(again, 'history-a', last);
  assert.equal(notice.event, 'pusher_internal:resumed', notice.raw);
  assert.equal(notice.data.replayed, 5);
  await publishN(sdk, 'history-a', 7, 2);
  await waitUntil(() => events(again, 'history-a').length === 7, 5000, '5 missed + 2 live');
  assert.deepEqual(events(again, 'history-a').map((f) => f.data.i), [2, 3, 4, 5, 6, 7, 8]);
  const seqs = events(again, 'history-a').map((f) => Number(f.msg.position.split(':')[1]));
  assert.deepEqual(seqs, [3, 4, 5, 6, 7, 8, 9]);
  // Replayed events come before the notice, live ones after it.
  const order = again.all((f) => f.channel === 'history-a').map((f) => f.event);
  assert.equal(order.indexOf('pusher_internal:resumed'), 1 + 5, order.join(','));
  await again.ping();
  assert.equal(events(again, 'history-a').length, 7, 'no duplicate arrived later');
});

test('publishes racing with the resume are neither lost nor duplicated', async (t) => {
  const srv = await historyServer(
    t,
    app({ history_channels: ['history-*'], history_max_events: 500 }),
    { socket_queue_capacity: 1200 },
  );
  const sdk = makeSdk(srv.port);
  const watcher = await connect(t, srv.port);
  await subscribeResuming(watcher, 'history-race', '');
  await publishN(sdk, 'history-race', 0, 1);
  await waitUntil(() => events(watcher, 'history-race').length === 1);
  const start = events(watcher, 'history-race')[0].msg.position;
  // A publisher keeps going while clients resume from `start` one after another.
  let published = 1;
  let stop = false;
  const publisher = (async () => {
    while (!stop && published < 400) {
      await sdk.trigger('history-race', 'tick', { i: published });
      published += 1;
    }
  })();
  const resumers = [];
  for (let k = 0; k < 8; k += 1) {
    const client = await connect(t, srv.port);
    await subscribeResuming(client, 'history-race', start);
    resumers.push(client);
    await new Promise((r) => setTimeout(r, 20));
  }
  stop = true;
  await publisher;
  for (const client of resumers) {
    await waitUntil(() => events(client, 'history-race').length >= published - 1, 10_000, 'every event after start');
    const got = events(client, 'history-race').map((f) => f.data.i);
    const want = Array.from({ length: published - 1 }, (_, i) => i + 1);
    assert.deepEqual(got, want, 'each event once, in order');
  }
});

test('too old, lost and malformed positions get an explicit notice and live events', async (t) => {
  const srv = await historyServer(t, app({ history_channels: ['history-*'], history_max_events: 3 }));
  const sdk = makeSdk(srv.port);
  const client = await connect(t, srv.port);
  await subscribeResuming(client, 'history-a', '');
  await publishN(sdk, 'history-a', 0, 1);
  await waitUntil(() => events(client, 'history-a').length === 1);
  const old = events(client, 'history-a')[0].msg.position;
  await publishN(sdk, 'history-a', 1, 5);

  const late = await connect(t, srv.port);
  const tooOld = await subscribeResuming(late, 'history-a', old);
  assert.equal(tooOld.event, 'pusher_internal:resume_failed');
  assert.equal(tooOld.data.reason, 'too_old');
  assert.match(tooOld.data.message, /refetch/);
  assert.equal(tooOld.msg.position.split(':')[1], '6', 'the position to continue from');
  assert.equal(events(late, 'history-a').length, 0, 'no partial replay');
  await sdk.trigger('history-a', 'tick', { i: 6 });
  await waitUntil(() => events(late, 'history-a').length === 1);

  const lost = await connect(t, srv.port);
  const other = await subscribeResuming(lost, 'history-a', 'deadbeef:2');
  assert.equal(other.data.reason, 'history_lost');
  const bad = await connect(t, srv.port);
  const malformed = await subscribeResuming(bad, 'history-a', 'not a position');
  assert.equal(malformed.data.reason, 'unknown_position');
  const ahead = await subscribeResuming(await connect(t, srv.port), 'history-a', `${old.split(':')[0]}:999`);
  assert.equal(ahead.data.reason, 'unknown_position');
});

test('private history channels keep their auth rules', async (t) => {
  const srv = await historyServer(t);
  const client = await connect(t, srv.port);
  client.subscribe('private-history-x', { resume_after: '' });
  const refused = await client.next((f) => f.event === 'pusher:subscription_error' || f.event === 'pusher:error');
  assert.match(refused.raw, /auth|signature/i);
  await client.expectNoneAfterPing((f) => f.event?.startsWith('pusher_internal:resume'), 'a notice without auth');
  const ok = await subscribeResuming(client, 'private-history-x', '', { auth: privateAuth(client.socketId, 'private-history-x', HISTORY_APP) });
  assert.equal(ok.event, 'pusher_internal:resumed');
});

test('the HTTP API reads a channel history (signed)', async (t) => {
  const srv = await historyServer(t);
  const sdk = makeSdk(srv.port);
  await publishN(sdk, 'history-api', 0, 4);
  const all = await (await sdk.get({ path: '/channels/history-api/history' })).json();
  assert.equal(all.complete, true);
  assert.deepEqual(all.events.map((e) => JSON.parse(e.data).i), [0, 1, 2, 3]);
  assert.equal(all.position, all.events[3].position);
  const after = await (await sdk.get({ path: '/channels/history-api/history', params: { after: all.events[1].position, limit: '1' } })).json();
  assert.deepEqual(after.events.map((e) => JSON.parse(e.data).i), [2]);
  const last2 = await (await sdk.get({ path: '/channels/history-api/history', params: { limit: '2' } })).json();
  assert.deepEqual(last2.events.map((e) => JSON.parse(e.data).i), [2, 3]);
  const plain = await signedRequest(srv.port, 'GET', '/apps/app-id/channels/plain/history');
  assert.equal(plain.status, 400);
  assert.match(plain.json.error, /history_channels/);
  const badAfter = await signedRequest(srv.port, 'GET', '/apps/app-id/channels/history-api/history', { params: { after: 'x' } });
  assert.equal(badAfter.status, 400);
  const unsigned = await fetch(`http://127.0.0.1:${srv.port}/apps/app-id/channels/history-api/history`);
  assert.equal(unsigned.status, 401);
});

test('history bounds and counters show in metrics', async (t) => {
  const metricsPort = await freePort();
  const srv = await historyServer(t, app({ history_channels: ['history-*'], history_max_events: 3 }), {
    metrics_enabled: true, metrics_port: metricsPort,
  });
  const sdk = makeSdk(srv.port);
  await publishN(sdk, 'history-m', 0, 5);
  const client = await connect(t, srv.port);
  await subscribeResuming(client, 'history-m', 'deadbeef:1');
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const value = (name) => Number(text.match(new RegExp(`^sockwave_${name}\\{[^}]*app_id="app-id"[^}]*\\} (\\d+)`, 'm'))?.[1]);
  assert.equal(value('history_events_total'), 5, text);
  assert.equal(value('history_held_events'), 3, 'bounded by history_max_events');
  assert.equal(value('history_channels'), 1);
  assert.match(text, /sockwave_history_resumes_total\{app_id="app-id",outcome="gap",port="\d+"\} 1/);
});

test('Redis cluster: one order for all nodes, and a client resumes on another node', async (t) => {
  if (!(await needSharedEngine(t, 'redis'))) return;
  const apps = [app({ history_channels: ['history-*'], history_max_events: 250 })];
  const cluster = clusterOptions('redis');
  const nodes = await startCluster(t, 3, { cluster, apps });
  const [a, b, c] = nodes;
  const watchers = [];
  for (const node of nodes) {
    const client = await connect(t, node.port, apps[0]);
    await subscribeResuming(client, 'history-c', '');
    watchers.push(client);
  }
  // Publishers on two nodes at once: every subscriber, on every node, sees one order, the
  // order of the positions.
  const sdks = [makeSdk(a.port, apps[0]), makeSdk(b.port, apps[0])];
  await Promise.all(sdks.map(async (sdk, k) => {
    for (let i = 0; i < 60; i += 1) await sdk.trigger('history-c', 'tick', { from: k, i });
  }));
  for (const client of watchers) {
    await waitUntil(() => events(client, 'history-c').length === 120, 10_000, '120 events');
    const seqs = events(client, 'history-c').map((f) => Number(f.msg.position.split(':')[1]));
    assert.deepEqual(seqs, Array.from({ length: 120 }, (_, i) => i + 1), 'positions in order, none missing');
  }
  const reference = events(watchers[0], 'history-c').map((f) => f.raw);
  for (const client of watchers.slice(1)) {
    assert.deepEqual(events(client, 'history-c').map((f) => f.raw), reference, 'the same frames in the same order');
  }

  // A client on node C drops; 50 events are published through node A; it comes back on B.
  const last = events(watchers[2], 'history-c').at(-1).msg.position;
  watchers[2].terminate();
  for (let i = 0; i < 50; i += 1) await sdks[0].trigger('history-c', 'tick', { i: 1000 + i });
  const back = await connect(t, b.port, apps[0]);
  const notice = await subscribeResuming(back, 'history-c', last);
  assert.equal(notice.event, 'pusher_internal:resumed', notice.raw);
  assert.equal(notice.data.replayed, 50);
  await sdks[1].trigger('history-c', 'tick', { i: 2000 });
  await waitUntil(() => events(back, 'history-c').length === 51);
  assert.deepEqual(events(back, 'history-c').map((f) => f.data.i), [...Array.from({ length: 50 }, (_, i) => 1000 + i), 2000]);
  await back.ping();
  assert.equal(events(back, 'history-c').length, 51, 'nothing twice');

  // The history lives in Redis: a node started after all this (a restart) serves it too.
  await c.stop('SIGKILL');
  const restarted = await startNode({ cluster, apps });
  t.after(() => restarted.stop('SIGKILL'));
  const late = await connect(t, restarted.port, apps[0]);
  const resumed = await subscribeResuming(late, 'history-c', last);
  assert.equal(resumed.data.replayed, 51);
  await waitUntil(() => events(late, 'history-c').length === 51);
  const viaHttp = await (await makeSdk(restarted.port, apps[0]).get({ path: '/channels/history-c/history', params: { limit: '3' } })).json();
  assert.deepEqual(viaHttp.events.map((e) => e.position.split(':')[1]), ['169', '170', '171']);
});

test('with Redis down, a publish to a history channel is refused with 503, not lost silently', async (t) => {
  const bin = needEngineBinary(t, 'redis');
  if (!bin) return;
  const engine = await startOwnEngine('redis', bin);
  t.after(() => engine.stop());
  const apps = [app({ history_channels: ['history-*'] })];
  const node = await startNode({ cluster: clusterOptions('redis', { url: engine.url }), apps });
  t.after(() => node.stop('SIGKILL'));
  const client = await connect(t, node.port, apps[0]);
  await subscribeResuming(client, 'history-d', '');
  await makeSdk(node.port, apps[0]).trigger('history-d', 'tick', { i: 0 });
  await waitUntil(() => events(client, 'history-d').length === 1);
  await engine.stop();
  const refused = await signedRequest(node.port, 'POST', '/apps/app-id/events', {
    body: { name: 'tick', channel: 'history-d', data: '{"i":1}' },
  });
  assert.equal(refused.status, 503, refused.text);
  assert.match(refused.json.error, /history unavailable: redis/);
  assert.match(refused.json.error, /not published/);
  const plain = await signedRequest(node.port, 'POST', '/apps/app-id/events', {
    body: { name: 'tick', channel: 'plain', data: '{}' },
  });
  assert.equal(plain.status, 200, 'other channels keep working while Redis is down');
  // A resume while the store is down says so, and the client keeps its position.
  const other = await connect(t, node.port, apps[0]);
  // (Once in ten suite runs this socket was closed with 4200 instead: the node's log says why.)
  const notice = await subscribeResuming(other, 'history-d', events(client, 'history-d')[0].msg.position)
    .catch((err) => { throw new Error(`${err.message}\nnode log:\n${node.logs().slice(-8000)}`); });
  assert.equal(notice.event, 'pusher_internal:resume_failed');
  assert.equal(notice.data.reason, 'unavailable');
  assert.equal(notice.msg.position, undefined);
  // Back: publishes go through again, and the history kept in Redis is gone with the
  // engine's memory, so the old position is reported as lost.
  await engine.start();
  await waitUntil(async () => (await signedRequest(node.port, 'POST', '/apps/app-id/events', {
    body: { name: 'tick', channel: 'history-d', data: '{"i":2}' },
  })).status === 200, 15_000, 'publishes accepted again');
  const last = await connect(t, node.port, apps[0]);
  const lost = await subscribeResuming(last, 'history-d', events(client, 'history-d')[0].msg.position);
  assert.equal(lost.data.reason, 'history_lost');
});

test('a node whose Redis subscription drops asks its history subscribers to reconnect, and they lose nothing', async (t) => {
  const bin = needEngineBinary(t, 'redis');
  if (!bin) return;
  const engine = await startOwnEngine('redis', bin);
  t.after(() => engine.stop());
  const apps = [app({ history_channels: ['history-*'], history_max_events: 250 })];
  const cluster = clusterOptions('redis', { url: engine.url });
  const a = await startNode({ cluster, apps });
  t.after(() => a.stop('SIGKILL'));
  const client = await connect(t, a.port, apps[0]);
  await subscribeResuming(client, 'history-o', '');
  // 200 publishes from 8 clients while Redis drops the node's pub/sub connection again and
  // again: the scripts still run, but frames published while the node re-subscribes never
  // reach it.
  const sdk = makeSdk(a.port, apps[0]);
  let next = 0;
  const publishers = Array.from({ length: 8 }, async () => {
    while (next < 200) {
      const i = next;
      next += 1;
      await sdk.trigger('history-o', 'tick', { i });
    }
  });
  const killer = (async () => {
    while (next < 200) {
      await redisCommand(engine.port, ['CLIENT', 'KILL', 'TYPE', 'pubsub']).catch(() => {});
      await new Promise((r) => setTimeout(r, 3));
    }
  })();
  await Promise.all([...publishers, killer]);
  const closed = await client.waitClosed(10_000);
  assert.equal(closed.code, 4200, 'asked to reconnect');
  const got = events(client, 'history-o');
  const seqs = got.map((f) => Number(f.msg.position.split(':')[1]));
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'nothing delivered past the gap');
  assert.ok(seqs.length < 200, `the node missed frames (${seqs.length} delivered before the reconnect)`);
  // The add-on's reconnect: resume from the last event processed.
  const back = await connect(t, a.port, apps[0]);
  const position = got.at(-1)?.msg.position ?? (await (await sdk.get({ path: '/channels/history-o/history', params: { limit: '1' } })).json()).position.replace(/:\d+$/, ':0');
  const notice = await subscribeResuming(back, 'history-o', position);
  assert.equal(notice.event, 'pusher_internal:resumed', notice.raw);
  await waitUntil(() => got.length + events(back, 'history-o').length === 200, 10_000, 'all 200 events');
  const all = [...got, ...events(back, 'history-o')];
  assert.deepEqual(all.map((f) => Number(f.msg.position.split(':')[1])), Array.from({ length: 200 }, (_, i) => i + 1), 'each once, in order');
  assert.deepEqual(all.map((f) => f.data.i).sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i));
});

test('encrypted channels replay their ciphertext as it was published', async (t) => {
  const appCfg = app({ history_channels: ['private-encrypted-history-*'] });
  const srv = await historyServer(t, appCfg);
  const masterKey = Buffer.alloc(32, 9).toString('base64');
  const sdk = makeSdk(srv.port, appCfg, { encryptionMasterKeyBase64: masterKey });
  const channel = 'private-encrypted-history-x';
  const live = await connect(t, srv.port, appCfg);
  const auth = (socketId) => ({ auth: sdk.authorizeChannel(socketId, channel).auth });
  await subscribeResuming(live, channel, '', auth(live.socketId));
  await sdk.trigger(channel, 'tick', { secret: 'numbers' });
  await waitUntil(() => events(live, channel).length === 1);
  const [sent] = events(live, channel);
  assert.ok(sent.data.ciphertext && sent.data.nonce, 'the SDK encrypted it');
  assert.ok(!sent.raw.includes('numbers'), 'the server never saw the plaintext');
  const later = await connect(t, srv.port, appCfg);
  const notice = await subscribeResuming(later, channel, `${sent.msg.position.split(':')[0]}:0`, auth(later.socketId));
  assert.equal(notice.data.replayed, 1);
  assert.equal(events(later, channel)[0].raw, sent.raw, 'the same frame, ciphertext and all');
});
