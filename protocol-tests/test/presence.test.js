// Presence channels: member lists, member_added / member_removed, limits.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, app, DEFAULT_APP } from '../lib/server.js';
import {
  RawClient, presenceAuth, privateAuth, makeSdk, makePusher, pusherSubscribe, withTimeout, waitUntil,
} from '../lib/clients.js';

const SMALL = app({ id: 'small-id', key: 'small-key', secret: 'small-secret', max_presence_members: 2, max_presence_member_size_kb: 1 });

const resultFor = (channel) => (f) =>
  (f.channel === channel && ['pusher_internal:subscription_succeeded', 'pusher:subscription_error'].includes(f.event)) ||
  f.event === 'pusher:error';

describe('presence channels', () => {
  let srv;
  let sdk;
  let seq = 0;
  const fresh = () => `presence-room.${++seq}`;
  before(async () => {
    srv = await startServer({ apps: [DEFAULT_APP, SMALL] });
    sdk = makeSdk(srv.port);
  });
  after(() => srv?.stop());

  const connect = async (t, appCfg = DEFAULT_APP) => {
    const c = await RawClient.connect(srv.wsUrl(appCfg.key));
    t.after(() => c.terminate());
    return c;
  };
  const join = async (t, channel, member, appCfg = DEFAULT_APP) => {
    const c = await connect(t, appCfg);
    const ok = await c.subscribePresence(channel, member, appCfg);
    return { c, ok };
  };
  const isAdded = (channel) => (f) => f.event === 'pusher_internal:member_added' && f.channel === channel;
  const isRemoved = (channel) => (f) => f.event === 'pusher_internal:member_removed' && f.channel === channel;

  test('numeric user_id: subscription_succeeded carries presence ids/hash/count', async (t) => {
    const ch = fresh();
    const { ok } = await join(t, ch, { user_id: 42, user_info: { name: 'Ann' } });
    assert.equal(typeof ok.msg.data, 'string', 'data must be a JSON string');
    const { presence } = ok.data;
    assert.ok(presence, ok.raw);
    assert.deepEqual(presence.ids.map(String), ['42']);
    assert.deepEqual(presence.hash['42'], { name: 'Ann' });
    assert.equal(presence.count, 1);
  });

  test('string user_id works; second member sees both, first gets member_added', async (t) => {
    const ch = fresh();
    const a = await join(t, ch, { user_id: 42, user_info: { name: 'Ann' } });
    const b = await join(t, ch, { user_id: 'bo-7', user_info: { name: 'Bo' } });
    const { presence } = b.ok.data;
    assert.deepEqual(presence.ids.map(String).sort(), ['42', 'bo-7']);
    assert.deepEqual(presence.hash['42'], { name: 'Ann' });
    assert.deepEqual(presence.hash['bo-7'], { name: 'Bo' });
    assert.equal(presence.count, 2);
    const added = await a.c.next(isAdded(ch));
    assert.equal(typeof added.msg.data, 'string');
    assert.equal(String(added.data.user_id), 'bo-7');
    assert.deepEqual(added.data.user_info, { name: 'Bo' });
    // member_added must NOT be sent to the joining member itself: it would come before the pong.
    await b.c.expectNoneAfterPing(isAdded(ch), 'member_added to self');
  });

  test('member without user_info is listed', async (t) => {
    const ch = fresh();
    const { ok } = await join(t, ch, { user_id: 'nobody' });
    assert.deepEqual(ok.data.presence.ids.map(String), ['nobody']);
    assert.equal(ok.data.presence.count, 1);
  });

  test('two sockets of one user are one member; added once, removed after the last leaves', async (t) => {
    const ch = fresh();
    const watcher = await join(t, ch, { user_id: 1, user_info: { name: 'W' } });
    const tab1 = await join(t, ch, { user_id: 2, user_info: { name: 'T' } });
    await watcher.c.next(isAdded(ch));
    const tab2 = await join(t, ch, { user_id: 2, user_info: { name: 'T' } });
    assert.equal(tab2.ok.data.presence.count, 2);
    assert.deepEqual(tab2.ok.data.presence.ids.map(String).sort(), ['1', '2']);

    const users = await (await sdk.get({ path: `/channels/${ch}/users` })).json();
    assert.deepEqual(users.users.map((u) => String(u.id)).sort(), ['1', '2']);

    tab1.c.unsubscribe(ch);
    await tab1.c.ping();
    // No member_added duplicate and no member_removed while tab2 is still there: the
    // unsubscribe was handled (tab1's pong), so either would reach the watcher before its pong.
    await watcher.c.expectNoneAfterPing((f) => isAdded(ch)(f) || isRemoved(ch)(f));

    // Abrupt disconnect of the last socket (no close frame).
    tab2.c.ws._socket.destroy();
    const removed = await watcher.c.next(isRemoved(ch), 5000);
    assert.equal(String(removed.data.user_id), '2');
    assert.equal(typeof removed.msg.data, 'string');
  });

  test('member_removed on unsubscribe', async (t) => {
    const ch = fresh();
    const a = await join(t, ch, { user_id: 'a' });
    const b = await join(t, ch, { user_id: 'b' });
    await a.c.next(isAdded(ch));
    b.c.unsubscribe(ch);
    const removed = await a.c.next(isRemoved(ch));
    assert.equal(String(removed.data.user_id), 'b');
  });

  test('member_removed on clean close', async (t) => {
    const ch = fresh();
    const a = await join(t, ch, { user_id: 'a' });
    const b = await join(t, ch, { user_id: 'b' });
    await a.c.next(isAdded(ch));
    b.c.close();
    const removed = await a.c.next(isRemoved(ch));
    assert.equal(String(removed.data.user_id), 'b');
  });

  test('re-subscribing on the same socket does not duplicate member_added', async (t) => {
    const ch = fresh();
    const a = await join(t, ch, { user_id: 'a' });
    const b = await join(t, ch, { user_id: 'b' });
    await a.c.next(isAdded(ch));
    await b.c.subscribePresence(ch, { user_id: 'b' });
    // No second member_added: b's re-subscribe was answered, so it would come before a's pong.
    await a.c.expectNoneAfterPing(isAdded(ch));
  });

  test('missing channel_data -> error mentioning channel_data', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    c.subscribe(ch, { auth: privateAuth(c.socketId, ch) });
    const f = await c.next(resultFor(ch));
    assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', f.raw);
    assert.match(JSON.stringify(f.data), /channel_data/);
    await c.ping();
  });

  test('channel_data without user_id is refused', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    c.subscribe(ch, presenceAuth(c.socketId, ch, { user_info: { name: 'x' } }));
    const f = await c.next(resultFor(ch));
    assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', f.raw);
  });

  test('presence with bad signature is refused', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    c.subscribe(ch, presenceAuth(c.socketId, ch, { user_id: 1 }, DEFAULT_APP, { secret: 'nope' }));
    const f = await c.next(resultFor(ch));
    assert.equal(f.event, 'pusher:subscription_error', f.raw);
    assert.equal(f.data.status, 401);
  });

  test('channel_data tampered after signing is refused', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    const signed = presenceAuth(c.socketId, ch, { user_id: 1 });
    c.subscribe(ch, { auth: signed.auth, channel_data: JSON.stringify({ user_id: 'admin' }) });
    const f = await c.next(resultFor(ch));
    assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', f.raw);
  });

  test('over max_presence_members -> LimitReached', async (t) => {
    const ch = fresh();
    await join(t, ch, { user_id: 'u1' }, SMALL);
    await join(t, ch, { user_id: 'u2' }, SMALL);
    const c = await connect(t, SMALL);
    c.subscribe(ch, presenceAuth(c.socketId, ch, { user_id: 'u3' }, SMALL));
    const f = await c.next(resultFor(ch));
    assert.equal(f.event, 'pusher:subscription_error', f.raw);
    assert.equal(f.data.type, 'LimitReached');
    await c.ping();
  });

  test('user_info over max_presence_member_size_kb is refused', async (t) => {
    const ch = fresh();
    const c = await connect(t);
    c.subscribe(ch, presenceAuth(c.socketId, ch, { user_id: 'big', user_info: { blob: 'x'.repeat(3 * 1024) } }));
    const f = await c.next(resultFor(ch));
    assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', f.raw);
    await c.ping();
  });

  test('user_info just under the limit is accepted', async (t) => {
    const ch = fresh();
    await join(t, ch, { user_id: 'ok', user_info: { blob: 'x'.repeat(1024) } });
  });

  test('pusher-js presence: members, member_added, member_removed', async (t) => {
    const ch = fresh();
    const a = makePusher(srv.port, { t, auth: { user: { user_id: 10, user_info: { name: 'Ten' } } } });
    const b = makePusher(srv.port, { t, auth: { user: { user_id: '20', user_info: { name: 'Twenty' } } } });
    const { channel: ca, data: membersA } = await pusherSubscribe(a, ch);
    assert.equal(membersA.count, 1);
    assert.equal(String(membersA.me.id), '10');
    const addedP = withTimeout(new Promise((r) => ca.bind('pusher:member_added', r)), 5000, 'member_added');
    const { data: membersB } = await pusherSubscribe(b, ch);
    assert.equal(membersB.count, 2);
    const added = await addedP;
    assert.equal(String(added.id), '20');
    assert.deepEqual(added.info, { name: 'Twenty' });
    const removedP = withTimeout(new Promise((r) => ca.bind('pusher:member_removed', r)), 5000, 'member_removed');
    b.disconnect();
    const removed = await removedP;
    assert.equal(String(removed.id), '20');
    await waitUntil(() => ca.members.count === 1, 2000, 'member count 1');
  });
});
