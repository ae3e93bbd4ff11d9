// Cache channels (cache-, private-cache-, private-encrypted-cache-, presence-cache-): the last
// event published through the HTTP API is replayed to new subscribers, pusher:cache_miss otherwise.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, app, DEFAULT_APP } from '../lib/server.js';
import {
  RawClient, makeSdk, makePusher, pusherPing, pusherSubscribe, sdkError, privateAuth, presenceAuth, withTimeout,
} from '../lib/clients.js';
import { Recorder } from '../lib/users.js';

const MASTER_KEY = crypto.createHash('sha256').update('sockwave cache test master key').digest('base64');
const CLIENT_EVENTS = app({ id: 'cm-id', key: 'cm-key', secret: 'cm-secret', enable_client_messages: true });
const CACHE_TTL = 1800;

const KINDS = [
  { prefix: 'cache-' },
  { prefix: 'private-cache-' },
  { prefix: 'private-encrypted-cache-', encrypted: true },
  { prefix: 'presence-cache-', presence: true },
];

describe('cache channels', () => {
  let srv;
  let sdk;
  let seq = 0;
  const fresh = (prefix) => `${prefix}x.${++seq}`;
  before(async () => {
    srv = await startServer({ apps: [DEFAULT_APP, CLIENT_EVENTS] });
    sdk = makeSdk(srv.port, DEFAULT_APP, { encryptionMasterKeyBase64: MASTER_KEY });
  });
  after(() => srv?.stop());

  const connect = async (t, appCfg = DEFAULT_APP) => {
    const c = await RawClient.connect(srv.wsUrl(appCfg.key));
    t.after(() => c.terminate());
    return c;
  };
  /** pusher-js able to join every kind (presence user, encryption master key for shared_secret). */
  const client = (t, appCfg = DEFAULT_APP) => makePusher(srv.port, {
    t,
    appCfg,
    auth: { user: { user_id: `member-${++seq}`, user_info: { n: seq } }, sdkExtra: { encryptionMasterKeyBase64: MASTER_KEY } },
  });
  /**
   * Subscribes with pusher-js, recording (from before the subscribe) every channel event,
   * each with whether the channel was already subscribed when it fired.
   */
  const subscribeRecording = async (p, name) => {
    const rec = new Recorder();
    const channel = p.subscribe(name);
    channel.bind_global((event, data) => {
      rec.push(event, { data, subscribed: channel.subscribed, members: channel.members?.count });
    });
    await withTimeout(new Promise((resolve, reject) => {
      channel.bind('pusher:subscription_succeeded', resolve);
      channel.bind('pusher:subscription_error', (e) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`)));
    }), 5000, `subscription to ${name}`);
    return { channel, rec };
  };
  const cacheInfo = async (name) => (await sdk.get({ path: `/channels/${name}`, params: { info: 'cache' } })).json();

  for (const kind of KINDS) {
    describe(`${kind.prefix}*`, () => {
      test('nothing cached: pusher:cache_miss right after subscription_succeeded', async (t) => {
        const name = fresh(kind.prefix);
        const p = client(t);
        const { rec } = await subscribeRecording(p, name);
        const miss = await rec.nextEvent('pusher:cache_miss');
        assert.equal(miss.data.subscribed, true, 'cache_miss must follow subscription_succeeded');
        if (kind.presence) assert.equal(miss.data.members, 1, 'cache_miss must follow the member list');
        // What a subscribe replays is sent with its answer: anything else would come before the pong.
        await rec.expectNoneAfter(() => pusherPing(p), (i) => !i.event.startsWith('pusher:') || i.event === 'pusher:cache_miss', 'second cache event');
        const info = await cacheInfo(name);
        assert.equal(info.occupied, true, JSON.stringify(info));
        assert.equal(info.cache, null, JSON.stringify(info));
      });

      test('published while nobody subscribed: a new pusher-js subscriber receives it, no cache_miss', async (t) => {
        const name = fresh(kind.prefix);
        const payload = { price: 42, at: `t${seq}` };
        const res = await sdk.trigger(name, 'price.updated', payload);
        assert.equal(res.status, 200);

        const info = await cacheInfo(name);
        assert.equal(info.occupied, false, JSON.stringify(info));
        assert.ok(info.cache, `cache expected: ${JSON.stringify(info)}`);
        assert.equal(info.cache.event, 'price.updated');
        if (kind.encrypted) {
          const enc = JSON.parse(info.cache.data);
          assert.ok(enc.nonce && enc.ciphertext, `encrypted payload kept as published: ${info.cache.data}`);
        } else {
          assert.equal(info.cache.data, JSON.stringify(payload));
        }
        assert.equal(typeof info.cache.ttl, 'number');
        assert.ok(info.cache.ttl > CACHE_TTL - 60 && info.cache.ttl <= CACHE_TTL, `ttl ${info.cache.ttl}`);

        const p = client(t);
        const { rec } = await subscribeRecording(p, name);
        const ev = await rec.nextEvent('price.updated');
        assert.deepEqual(ev.data.data, payload, 'pusher-js must get (and decrypt) the cached payload');
        assert.equal(ev.data.subscribed, true, 'cached event must follow subscription_succeeded');
        if (kind.presence) assert.equal(ev.data.members, 1, 'cached event must follow the member list');
        // No cache_miss and no duplicate before the pong.
        await rec.expectNoneAfter(() => pusherPing(p), (i) => i.event === 'pusher:cache_miss' || i.event === 'price.updated', 'cache_miss or duplicate');
      });
    });
  }

  test('raw frames: subscription_succeeded, then the cached event as a normal channel event', async (t) => {
    const name = fresh('cache-');
    await sdk.trigger(name, 'ev', { a: 1 });
    const c = await connect(t);
    c.subscribe(name);
    const ok = await c.nextEvent('pusher_internal:subscription_succeeded', name);
    const ev = await c.nextEvent('ev', name);
    assert.ok(c.frames.indexOf(ok) < c.frames.indexOf(ev));
    assert.deepEqual(Object.keys(ev.msg).sort(), ['channel', 'data', 'event'], ev.raw);
    assert.equal(ev.msg.data, JSON.stringify({ a: 1 }));
    await c.expectNoneAfterPing((f) => f.event === 'pusher:cache_miss', 'cache_miss after a cached event');
  });

  test('raw frames: cache_miss is {"event":"pusher:cache_miss","channel":…,"data":"{}"} after succeeded', async (t) => {
    const name = fresh('cache-');
    const c = await connect(t);
    c.subscribe(name);
    const ok = await c.nextEvent('pusher_internal:subscription_succeeded', name);
    const miss = await c.nextEvent('pusher:cache_miss', name);
    assert.ok(c.frames.indexOf(ok) < c.frames.indexOf(miss));
    assert.equal(miss.msg.data, '{}', miss.raw);
  });

  test('raw presence-cache: member list first, then cached event', async (t) => {
    const name = fresh('presence-cache-');
    await sdk.trigger(name, 'ev', { p: 1 });
    const c = await connect(t);
    c.subscribe(name, presenceAuth(c.socketId, name, { user_id: 'm1' }));
    const ok = await c.nextEvent('pusher_internal:subscription_succeeded', name);
    assert.deepEqual(ok.data.presence.ids.map(String), ['m1']);
    const ev = await c.nextEvent('ev', name);
    assert.ok(c.frames.indexOf(ok) < c.frames.indexOf(ev));
  });

  test('only the last event is kept', async (t) => {
    const name = fresh('cache-');
    await sdk.trigger(name, 'first', { n: 1 });
    await sdk.trigger(name, 'second', { n: 2 });
    const p = client(t);
    const { rec } = await subscribeRecording(p, name);
    assert.deepEqual((await rec.nextEvent('second')).data.data, { n: 2 });
    // The older event is not replayed (it would come before the pong).
    await rec.expectNoneAfter(() => pusherPing(p), (i) => i.event === 'first', 'older cached event');
    assert.equal((await cacheInfo(name)).cache.event, 'second');
  });

  test('published while subscribed: delivered once live; later subscriber gets it from the cache', async (t) => {
    const name = fresh('private-cache-');
    const a = client(t);
    const { rec: recA } = await subscribeRecording(a, name);
    await recA.nextEvent('pusher:cache_miss');
    await sdk.trigger(name, 'live', { l: 1 });
    assert.deepEqual((await recA.nextEvent('live')).data.data, { l: 1 });
    const b = client(t);
    const { rec: recB } = await subscribeRecording(b, name);
    assert.deepEqual((await recB.nextEvent('live')).data.data, { l: 1 });
    // B's subscribe was handled (B has the replay): a copy for A would reach A before the pong.
    await recA.expectNoneAfter(() => pusherPing(a), (i) => i.event === 'live', 'duplicate to the existing subscriber');
  });

  test('cache survives the channel becoming vacant', async (t) => {
    const name = fresh('cache-');
    const c = await connect(t);
    await c.subscribeOk(name);
    await sdk.trigger(name, 'kept', { k: 1 });
    await c.nextEvent('kept', name);
    c.unsubscribe(name);
    await c.ping();
    const info = await cacheInfo(name);
    assert.equal(info.occupied, false, JSON.stringify(info));
    assert.equal(info.cache?.event, 'kept', JSON.stringify(info));
    const d = await connect(t);
    await d.subscribeOk(name);
    assert.deepEqual((await d.nextEvent('kept', name)).data, { k: 1 });
  });

  test('triggerBatch and multi-channel trigger fill the cache of every cache channel', async (t) => {
    const [a, b, c] = [fresh('cache-'), fresh('cache-'), fresh('private-cache-')];
    await sdk.triggerBatch([{ channel: a, name: 'batched', data: { b: 1 } }]);
    await sdk.trigger([b, c], 'multi', { m: 1 });
    assert.equal((await cacheInfo(a)).cache?.event, 'batched');
    assert.equal((await cacheInfo(b)).cache?.event, 'multi');
    assert.equal((await cacheInfo(c)).cache?.event, 'multi');
    const p = client(t);
    const { rec } = await subscribeRecording(p, c);
    assert.deepEqual((await rec.nextEvent('multi')).data.data, { m: 1 });
  });

  test('client events are not cached', async (t) => {
    const name = fresh('private-cache-');
    const listener = await connect(t, CLIENT_EVENTS);
    await listener.subscribeOk(name, { auth: privateAuth(listener.socketId, name, CLIENT_EVENTS) });
    const sender = client(t, CLIENT_EVENTS);
    const { channel } = await pusherSubscribe(sender, name);
    assert.ok(channel.trigger('client-typing', { who: 'me' }), 'pusher-js refused to send the client event');
    // The listener receiving it proves the server processed the client event.
    await listener.nextEvent('client-typing', name);
    const info = (await (await makeSdk(srv.port, CLIENT_EVENTS).get({ path: `/channels/${name}`, params: { info: 'cache' } })).json());
    assert.equal(info.cache, null, JSON.stringify(info));
    const late = await connect(t, CLIENT_EVENTS);
    await late.subscribeOk(name, { auth: privateAuth(late.socketId, name, CLIENT_EVENTS) });
    await late.nextEvent('pusher:cache_miss', name);
    await late.expectNoneAfterPing((f) => f.event === 'client-typing', 'cached client event');
  });

  test('the cache is per app: same channel name in another app is a miss', async (t) => {
    const name = fresh('cache-');
    await sdk.trigger(name, 'app-a-only', { a: 1 });
    const c = await connect(t, CLIENT_EVENTS);
    await c.subscribeOk(name);
    await c.nextEvent('pusher:cache_miss', name);
    await c.expectNoneAfterPing((f) => f.event === 'app-a-only', 'cache leaked across apps');
  });

  test('non-cache channels: no cache_miss and no replay', async (t) => {
    for (const name of [fresh(''), fresh('private-'), fresh('presence-'), fresh('cachex-'), fresh('private-cachex-')]) {
      await sdk.trigger(name, 'not-cached', { n: 1 });
      const c = await connect(t);
      if (name.startsWith('presence-')) await c.subscribePresence(name, { user_id: 'u' });
      else if (name.startsWith('private-')) await c.subscribePrivate(name);
      else await c.subscribeOk(name);
      // Absence of any cache behaviour: a replay or cache_miss would come before the pong.
      await c.expectNoneAfterPing((f) => f.event === 'pusher:cache_miss' || f.event === 'not-cached', `cache behaviour on ${name}`);
    }
  });

  test('GET /channels/{name}?info=cache on a non-cache channel -> 400', async () => {
    for (const name of [fresh(''), fresh('private-'), fresh('presence-')]) {
      const err = await sdkError(sdk.get({ path: `/channels/${name}`, params: { info: 'cache' } }));
      assert.equal(err.status, 400, `${name}: ${err.status} ${err.body}`);
    }
  });

  test('GET /channels/{name}?info=cache on a cache channel never used -> cache null, not occupied', async () => {
    const info = await cacheInfo(fresh('presence-cache-'));
    assert.equal(info.occupied, false, JSON.stringify(info));
    assert.equal(info.cache, null, JSON.stringify(info));
  });
});
