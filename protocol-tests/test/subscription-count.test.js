// Subscription counts (enable_subscription_count): pusher_internal:subscription_count as
// pusher-js exposes it (channel.subscriptionCount, 'pusher:subscription_count').
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, app, DEFAULT_APP } from '../lib/server.js';
import { RawClient, makeSdk, makePusher, pusherPing, waitForState, waitUntil, withTimeout } from '../lib/clients.js';
import { Recorder } from '../lib/users.js';

const COUNTED = app({ id: 'count-id', key: 'count-key', secret: 'count-secret', enable_subscription_count: true });
const isCount = (channel) => (f) => f.event === 'pusher_internal:subscription_count' && (channel === undefined || f.channel === channel);

/** Subscribes with pusher-js, recording 'pusher:subscription_count' from before the subscribe. */
async function subscribeCounting(p, name) {
  const counts = new Recorder();
  const channel = p.subscribe(name);
  channel.bind('pusher:subscription_count', (data) => counts.push('count', { data, property: channel.subscriptionCount }));
  await withTimeout(new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', resolve);
    channel.bind('pusher:subscription_error', (e) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(e)}`)));
  }), 5000, `subscription to ${name}`);
  return { channel, counts };
}

/** Waits for the next count event and checks both the payload and channel.subscriptionCount. */
async function expectCount(counts, n, who) {
  const it = await counts.next(() => true, 5000, `subscription_count ${n} for ${who}`);
  assert.deepEqual(it.data.data, { subscription_count: n }, `${who}: ${JSON.stringify(it.data)}`);
  assert.equal(it.data.property, n, `${who}: channel.subscriptionCount`);
}

describe('subscription counts (enable_subscription_count = true)', () => {
  let srv;
  let seq = 0;
  const fresh = (prefix = '') => `${prefix}news.${++seq}`;
  before(async () => { srv = await startServer({ apps: [COUNTED] }); });
  after(() => srv?.stop());

  const connect = async (t) => {
    const c = await RawClient.connect(srv.wsUrl(COUNTED.key));
    t.after(() => c.terminate());
    return c;
  };

  for (const prefix of ['', 'private-']) {
    test(`pusher-js ${prefix || 'public'} channel: 1, 2, back to 1 as clients come and go`, async (t) => {
      const name = fresh(prefix);
      const a = makePusher(srv.port, { t, appCfg: COUNTED });
      const { channel: ca, counts: countsA } = await subscribeCounting(a, name);
      await expectCount(countsA, 1, 'a after its own subscribe');

      const b = makePusher(srv.port, { t, appCfg: COUNTED });
      const { counts: countsB } = await subscribeCounting(b, name);
      await expectCount(countsA, 2, 'a after b joined');
      await expectCount(countsB, 2, 'b after its own subscribe');

      b.disconnect();
      await expectCount(countsA, 1, 'a after b disconnected');

      const c = makePusher(srv.port, { t, appCfg: COUNTED });
      await subscribeCounting(c, name);
      await expectCount(countsA, 2, 'a after c joined');
      c.unsubscribe(name);
      await expectCount(countsA, 1, 'a after c unsubscribed');
      assert.equal(ca.subscriptionCount, 1);
      // No further (spurious) count: it would reach a before the pong.
      await countsA.expectNoneAfter(() => pusherPing(a), () => true, 'extra subscription_count');
    });
  }

  test('raw frame: data is a JSON string {"subscription_count":N}, matches the HTTP API', async (t) => {
    const name = fresh();
    const sdk = makeSdk(srv.port, COUNTED);
    const clients = [];
    for (let i = 1; i <= 3; i++) {
      const c = await connect(t);
      await c.subscribeOk(name);
      clients.push(c);
    }
    const f = await clients[0].next((fr) => isCount(name)(fr) && fr.data?.subscription_count === 3, 5000, 'count 3');
    assert.equal(typeof f.msg.data, 'string', f.raw);
    assert.deepEqual(JSON.parse(f.msg.data), { subscription_count: 3 });
    assert.deepEqual(Object.keys(f.msg).sort(), ['channel', 'data', 'event'], f.raw);
    const body = await (await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })).json();
    assert.equal(body.subscription_count, 3, JSON.stringify(body));
  });

  test('abrupt disconnect (no close frame) decrements the count', async (t) => {
    const name = fresh();
    const a = await connect(t);
    await a.subscribeOk(name);
    await a.next((f) => isCount(name)(f) && f.data?.subscription_count === 1, 5000, 'count 1');
    const b = await connect(t);
    await b.subscribeOk(name);
    await a.next((f) => isCount(name)(f) && f.data?.subscription_count === 2, 5000, 'count 2');
    assert.deepEqual(a.pending(isCount(name)).map((f) => f.raw), [], 'unexpected extra counts');
    b.ws._socket.destroy();
    const f = await a.next((fr) => isCount(name)(fr) && fr.data?.subscription_count === 1, 5000, 'count 1 after drop');
    assert.ok(f);
  });

  test('re-subscribing on the same socket does not change the count: no new event', async (t) => {
    const name = fresh();
    const a = await connect(t);
    await a.subscribeOk(name);
    await a.next(isCount(name));
    await a.subscribeOk(name);
    // Absence (the number of subscribers did not change): a count would come before the pong.
    await a.expectNoneAfterPing(isCount(name), 'count without a change');
  });

  test('presence channels never get subscription_count', async (t) => {
    const name = fresh('presence-');
    const a = await connect(t);
    await a.subscribePresence(name, { user_id: 'a' }, COUNTED);
    const b = await connect(t);
    await b.subscribePresence(name, { user_id: 'b' }, COUNTED);
    await a.next((f) => f.event === 'pusher_internal:member_added' && f.channel === name);
    b.close();
    await a.next((f) => f.event === 'pusher_internal:member_removed' && f.channel === name);
    // Absence: a count for b's leave would be queued with the member_removed, before the pong.
    await a.expectNoneAfterPing(isCount(), 'subscription_count on a presence channel');
    assert.deepEqual(b.all(isCount()).map((f) => f.raw), []);
  });

  test('pusher-js presence channel: subscriptionCount stays unset', async (t) => {
    const name = fresh('presence-');
    const p = makePusher(srv.port, { t, appCfg: COUNTED, auth: { user: { user_id: 'p1' } } });
    const q = makePusher(srv.port, { t, appCfg: COUNTED, auth: { user: { user_id: 'p2' } } });
    const { channel, counts } = await subscribeCounting(p, name);
    await subscribeCounting(q, name);
    await withTimeout(new Promise((r) => (channel.members.count === 2 ? r() : channel.bind('pusher:member_added', r))), 5000, 'member_added');
    // Absence: q's join was handled (p saw it), so a count would reach p before the pong.
    await counts.expectNoneAfter(() => pusherPing(p), () => true, 'pusher:subscription_count on presence');
    assert.equal(channel.subscriptionCount ?? null, null);
  });
});

describe('subscription counts off by default', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('no pusher_internal:subscription_count with the default app settings', async (t) => {
    const name = 'default-news';
    const a = makePusher(srv.port, { t });
    const b = makePusher(srv.port, { t });
    const { channel, counts: countsA } = await subscribeCounting(a, name);
    const { counts: countsB } = await subscribeCounting(b, name);
    const raw = await RawClient.connect(srv.wsUrl(DEFAULT_APP.key));
    t.after(() => raw.terminate());
    await raw.subscribeOk(name);
    b.disconnect();
    await waitForState(b, 'disconnected');
    // The HTTP API counts from the same locked state that sends the counts: once it says 2,
    // the server has handled b's leave, and any count for it is queued before the pongs.
    const sdk = makeSdk(srv.port);
    await waitUntil(async () => (await (await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })).json())
      .subscription_count === 2, 5000, 'the server to handle b\'s leave');
    await countsA.expectNoneAfter(() => pusherPing(a), () => true, 'subscription_count while disabled');
    countsB.assertNone(() => true, 'subscription_count while disabled');
    await raw.expectNoneAfterPing(isCount(), 'subscription_count while disabled');
    assert.equal(channel.subscriptionCount ?? null, null, `subscriptionCount ${channel.subscriptionCount}`);
  });
});
