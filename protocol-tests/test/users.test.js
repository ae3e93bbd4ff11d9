// User features: pusher.signin(), server-to-user messages, terminate_connections, presence
// without channel_data after sign-in (docs/pusher-features.md).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, app, DEFAULT_APP, sleep } from '../lib/server.js';
import {
  RawClient, makeSdk, makePusher, pusherPing, pusherSubscribe, waitForState, waitUntil, privateAuth, presenceAuth,
} from '../lib/clients.js';
import {
  makeUserPusher, signIn, signInOk, rawSignIn, rawSignInOk, userAuth, Recorder,
} from '../lib/users.js';

const NO_USERS = app({ id: 'nousers-id', key: 'nousers-key', secret: 'nousers-secret', enable_user_authentication: false });

/**
 * Cleanup only: after the server closes a pusher-js socket with 4009, pusher-js calls close() on
 * the already-closed faye-websocket client, which arms a 30 s timer that is never cleared and
 * keeps the test process alive. Clears it at test end; it has no effect on what is asserted.
 * Call while `p` is still connected.
 */
function clearCloseTimerAtEnd(t, p) {
  const socket = p.connection.connection?.transport?.socket;
  if (socket) t.after(() => clearTimeout(socket._closeTimer));
}

const isResult = (channel) => (f) =>
  (f.channel === channel && ['pusher_internal:subscription_succeeded', 'pusher:subscription_error'].includes(f.event)) ||
  f.event === 'pusher:error';

describe('user authentication and server-to-user', () => {
  let srv;
  let sdk;
  let seq = 0;
  const uid = (p = 'u') => `${p}${++seq}`;
  before(async () => {
    srv = await startServer({ apps: [DEFAULT_APP, NO_USERS] });
    sdk = makeSdk(srv.port);
  });
  after(() => srv?.stop());

  const connect = async (t, appCfg = DEFAULT_APP) => {
    const c = await RawClient.connect(srv.wsUrl(appCfg.key));
    t.after(() => c.terminate());
    return c;
  };
  const signedPusher = async (t, user, extra = {}) => {
    const p = makeUserPusher(srv.port, { t, user, ...extra });
    await signInOk(p);
    return p;
  };

  describe('sign-in', () => {
    test('pusher-js signin(): signin_success with the same user_data, user.user_data set', async (t) => {
      const user = { id: uid(), user_info: { name: 'Ann' }, watchlist: [] };
      const p = makeUserPusher(srv.port, { t, user });
      const globalSuccess = new Recorder().on(p, 'pusher:signin_success');
      const frame = await signIn(p);
      assert.equal(frame.event, 'pusher:signin_success', JSON.stringify(frame));
      assert.equal(frame.data.user_data, JSON.stringify(user), 'user_data echoed verbatim');
      assert.deepEqual(p.user.user_data, user);
      const g = await globalSuccess.nextEvent('pusher:signin_success', 2000);
      assert.equal(g.data.user_data, JSON.stringify(user));
      assert.equal(p.connection.state, 'connected');
    });

    test('raw signin_success frame: data.user_data is the signed string', async (t) => {
      const c = await connect(t);
      const user = { id: uid(), user_info: { n: 1 } };
      const f = await rawSignInOk(c, user);
      assert.equal(f.data.user_data, JSON.stringify(user), f.raw);
    });

    test('pusher-js subscribes to its own #server-to-user channel and it is acknowledged', async (t) => {
      const id = uid();
      const p = await signedPusher(t, { id });
      await waitUntil(() => p.user.serverToUserChannel?.subscribed, 5000, `#server-to-user-${id} subscribed`);
      const ok = await p.frames.next((i) => i.data.event === 'pusher_internal:subscription_succeeded' && i.data.channel === `#server-to-user-${id}`, 1000, 'ack');
      assert.ok(ok);
      const errs = p.frames.pending((i) => i.data.event === 'pusher:subscription_error' || i.data.event === 'pusher:error');
      assert.deepEqual(errs.map((e) => e.data), []);
    });

    test('user authenticator signing with the wrong secret: pusher:error 4009, socket stays open', async (t) => {
      const p = makeUserPusher(srv.port, { t, user: { id: uid() }, userSecret: 'not-the-secret' });
      const globalErr = new Recorder().on(p, 'pusher:error');
      const frame = await signIn(p);
      assert.equal(frame.event, 'pusher:error', JSON.stringify(frame));
      assert.equal(frame.data.code, 4009, JSON.stringify(frame));
      assert.match(frame.data.message, /signature/i);
      // pusher-js surfaces a pusher:error on connection 'error' and on the global binding.
      const connErr = await p.errors.next((i) => i.data?.type === 'PusherError' && i.data?.data?.code === 4009, 2000, 'connection error 4009');
      assert.match(connErr.data.data.message, /signature/i);
      await globalErr.nextEvent('pusher:error', 2000);
      assert.equal(p.user.user_data, null, 'pusher-js must not consider itself signed in');
      // The socket stays open: a subscription still works on the same socket id.
      const socketId = p.connection.socket_id;
      await pusherSubscribe(p, `after-bad-signin.${seq}`);
      assert.equal(p.connection.state, 'connected');
      assert.equal(p.connection.socket_id, socketId);
    });

    test('raw: bad signature, then a good one on the same socket succeeds', async (t) => {
      const c = await connect(t);
      const user = { id: uid() };
      const bad = await rawSignIn(c, user, DEFAULT_APP, { secret: 'wrong' });
      assert.equal(bad.event, 'pusher:error', bad.raw);
      assert.equal(bad.data.code, 4009);
      assert.ok(c.isOpen);
      const good = await rawSignIn(c, user);
      assert.equal(good.event, 'pusher:signin_success', good.raw);
    });

    test('raw: wrong key in auth -> 4009', async (t) => {
      const c = await connect(t);
      const f = await rawSignIn(c, { id: uid() }, DEFAULT_APP, { key: 'other-key' });
      assert.equal(f.event, 'pusher:error', f.raw);
      assert.equal(f.data.code, 4009);
      await c.ping();
    });

    test('raw: user_data without id (or empty id) -> 4009, socket open', async (t) => {
      const c = await connect(t);
      for (const user of [{ user_info: { name: 'x' } }, { id: '' }, { id: 5 }]) {
        const f = await rawSignIn(c, user);
        assert.equal(f.event, 'pusher:error', `${JSON.stringify(user)}: ${f.raw}`);
        assert.equal(f.data.code, 4009, f.raw);
      }
      await c.ping();
    });

    test('raw: user_data that is not JSON -> 4009', async (t) => {
      const c = await connect(t);
      const f = await rawSignIn(c, 'not json');
      assert.equal(f.event, 'pusher:error', f.raw);
      assert.equal(f.data.code, 4009);
      await c.ping();
    });

    test('raw: signing in again as another user -> 4009 "already signed in"', async (t) => {
      const c = await connect(t);
      const first = uid();
      await rawSignInOk(c, { id: first });
      const f = await rawSignIn(c, { id: uid() });
      assert.equal(f.event, 'pusher:error', f.raw);
      assert.equal(f.data.code, 4009);
      assert.match(f.data.message, /already signed in/);
      assert.ok(f.data.message.includes(first), f.raw);
      await c.ping();
    });

    test('app with enable_user_authentication = false: 4009 mentioning "disabled", socket open', async (t) => {
      const p = makeUserPusher(srv.port, { t, appCfg: NO_USERS, user: { id: uid() } });
      const frame = await signIn(p);
      assert.equal(frame.event, 'pusher:error', JSON.stringify(frame));
      assert.equal(frame.data.code, 4009);
      assert.match(frame.data.message, /disabled/);
      assert.equal(p.user.user_data, null);
      await pusherSubscribe(p, 'still-usable');
      assert.equal(p.connection.state, 'connected');
    });
  });

  describe('sendToUser', () => {
    test('reaches every pusher-js signed in as the user, not another user nor an unsigned client', async (t) => {
      const id = uid('send-');
      const tab1 = await signedPusher(t, { id });
      const tab2 = await signedPusher(t, { id });
      const other = await signedPusher(t, { id: uid('other-') });
      const anon = makePusher(srv.port, { t });
      const anonFrames = new Recorder();
      anon.connection.bind('message', (m) => anonFrames.push('frame', m));
      await waitForState(anon, 'connected');

      const got1 = new Recorder().on(tab1.user, 'invoice.paid');
      const got2 = new Recorder().on(tab2.user, 'invoice.paid');
      const gotOther = new Recorder().on(other.user, 'invoice.paid');
      const res = await sdk.sendToUser(id, 'invoice.paid', { amount: 12 });
      assert.equal(res.status, 200);
      assert.deepEqual((await got1.nextEvent('invoice.paid')).data, { amount: 12 });
      assert.deepEqual((await got2.nextEvent('invoice.paid')).data, { amount: 12 });
      // The publish was answered: a delivery to the other user or the anonymous client would
      // reach them before the pong of a ping sent now.
      await pusherPing(other);
      await pusherPing(anon);
      assert.deepEqual(gotOther.pending(), [], 'other user received it');
      const leaked = [...anonFrames.pending(), ...other.frames.pending()].filter((i) => i.data.event === 'invoice.paid');
      assert.deepEqual(leaked.map((i) => i.data), [], 'event leaked to a socket not signed in as the user');
    });

    test('after a dropped connection pusher-js reconnects, signs in again and still receives', async (t) => {
      const id = uid('reconnect-');
      const p = await signedPusher(t, { id });
      const firstSocket = p.connection.socket_id;
      const got = new Recorder().on(p.user, 'ping-user');
      // Drop the WebSocket under pusher-js (as a network blip would); it retries on its own.
      p.connection.connection.transport.socket.close();
      await waitUntil(() => p.connection.state === 'connected' && p.connection.socket_id !== firstSocket, 10_000, 'reconnect');
      await p.frames.next((i) => i.data.event === 'pusher:signin_success', 5000, 'second signin_success');
      await sdk.sendToUser(id, 'ping-user', { n: 2 });
      assert.deepEqual((await got.nextEvent('ping-user')).data, { n: 2 });
      // A single delivery (the old socket is gone from the user index): a second copy would
      // arrive before the pong.
      await got.expectNoneAfter(() => pusherPing(p), () => true, 'duplicate delivery');
    });

    test('raw socket signed in as the user gets the frame on #server-to-user-{id}', async (t) => {
      const id = uid('rawsend-');
      const c = await connect(t);
      await rawSignInOk(c, { id });
      await sdk.sendToUser(id, 'note', { n: 1 });
      const f = await c.nextEvent('note');
      assert.equal(f.channel, `#server-to-user-${id}`, f.raw);
      assert.deepEqual(f.data, { n: 1 });
    });

    test('raw socket not signed in: #server-to-user-{id} subscription refused, never gets the event', async (t) => {
      const id = uid('target-');
      const owner = await connect(t);
      await rawSignInOk(owner, { id });
      const c = await connect(t);
      const ch = `#server-to-user-${id}`;
      c.subscribe(ch);
      const f = await c.next(isResult(ch));
      assert.equal(f.event, 'pusher:subscription_error', f.raw);
      await sdk.sendToUser(id, 'secret-note', { s: 1 });
      await owner.nextEvent('secret-note');
      // The owner has it: a copy for the eavesdropper would arrive before the pong.
      await c.expectNoneAfterPing((fr) => fr.event === 'secret-note', 'server-to-user event to a non-member');
    });

    test('raw socket signed in as another user: #server-to-user-{id} refused, never gets the event', async (t) => {
      const id = uid('target-');
      const owner = await connect(t);
      await rawSignInOk(owner, { id });
      const c = await connect(t);
      await rawSignInOk(c, { id: uid('intruder-') });
      const ch = `#server-to-user-${id}`;
      c.subscribe(ch);
      const f = await c.next(isResult(ch));
      assert.equal(f.event, 'pusher:subscription_error', f.raw);
      await sdk.sendToUser(id, 'secret-note', { s: 2 });
      await owner.nextEvent('secret-note');
      await c.expectNoneAfterPing((fr) => fr.event === 'secret-note', 'server-to-user event to another user');
    });

    test('a socket that failed sign-in does not receive server-to-user events', async (t) => {
      const id = uid('failed-');
      const good = await connect(t);
      await rawSignInOk(good, { id });
      const bad = await connect(t);
      const f = await rawSignIn(bad, { id }, DEFAULT_APP, { secret: 'wrong' });
      assert.equal(f.event, 'pusher:error', f.raw);
      await sdk.sendToUser(id, 'only-good', {});
      await good.nextEvent('only-good');
      await bad.expectNoneAfterPing((fr) => fr.event === 'only-good', 'event to a socket whose sign-in failed');
    });
  });

  describe('terminateUserConnections', () => {
    test('closes every socket of the user (signed in or presence member) with 4009; others stay', async (t) => {
      const id = uid('term-');
      const tab1 = await signedPusher(t, { id });
      const tab2 = await signedPusher(t, { id });
      const rawSigned = await connect(t);
      await rawSignInOk(rawSigned, { id });
      const presenceOnly = await connect(t);
      await presenceOnly.subscribePresence(`presence-term.${seq}`, { user_id: id });
      const otherUser = await signedPusher(t, { id: uid('keep-') });
      const otherPresence = await connect(t);
      await otherPresence.subscribePresence(`presence-term.${seq}`, { user_id: uid('keep-') });
      const anon = await connect(t);

      clearCloseTimerAtEnd(t, tab1);
      clearCloseTimerAtEnd(t, tab2);

      const res = await sdk.terminateUserConnections(id);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {});

      for (const [name, c] of [['signed-in raw socket', rawSigned], ['presence-only member', presenceOnly]]) {
        const close = await c.waitClosed(5000).catch((e) => { throw new Error(`${name}: ${e.message}; frames:\n  ${c.describe()}`); });
        assert.equal(close.code, 4009, `${name} close code`);
        const err = c.all((f) => f.event === 'pusher:error');
        assert.equal(err.length, 1, `${name}: expected one pusher:error 4009 before the close; frames:\n  ${c.describe()}`);
        assert.equal(err[0].data.code, 4009, err[0].raw);
      }
      const marks = new Map();
      for (const p of [tab1, tab2]) {
        await waitUntil(() => ['disconnected', 'failed'].includes(p.connection.state), 5000,
          `pusher-js of ${id} to stop (state ${p.connection.state})`);
        marks.set(p, p.states.items.length);
        await p.errors.next((i) => i.data?.data?.code === 4009, 1000, 'error 4009 on the pusher-js connection');
      }
      // Kept fixed wait: no server signal can show that pusher-js will NOT reconnect on its own
      // after a 4009 close; its longest retry delay is 1 s (retryIn(1000)).
      await sleep(1500);
      for (const p of [tab1, tab2]) {
        assert.ok(['disconnected', 'failed'].includes(p.connection.state), `state ${p.connection.state}`);
        const later = p.states.items.slice(marks.get(p)).map((i) => i.data);
        assert.deepEqual(later.filter((s) => ['connecting', 'connected'].includes(s.current)), [],
          'pusher-js reconnected after terminate');
      }
      assert.equal(otherUser.connection.state, 'connected');
      assert.ok(otherPresence.isOpen && anon.isOpen, 'sockets of other users must stay open');
      await otherPresence.ping();
      await anon.ping();
      assert.equal(otherPresence.all((f) => f.event === 'pusher:error').length, 0, otherPresence.describe());
    });

    test('terminating a user with no sockets answers {} and closes nobody', async (t) => {
      const c = await connect(t);
      await rawSignInOk(c, { id: uid('bystander-') });
      const res = await sdk.terminateUserConnections(uid('ghost-'));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {});
      await c.ping();
      assert.ok(c.isOpen);
    });

    test('a socket whose sign-in as the user failed is not terminated', async (t) => {
      const id = uid('term-');
      const victim = await connect(t);
      await rawSignInOk(victim, { id });
      const pretender = await connect(t);
      const f = await rawSignIn(pretender, { id }, DEFAULT_APP, { secret: 'wrong' });
      assert.equal(f.event, 'pusher:error', f.raw);
      await sdk.terminateUserConnections(id);
      assert.equal((await victim.waitClosed()).code, 4009);
      await pretender.ping();
      assert.ok(pretender.isOpen);
    });
  });

  describe('presence without channel_data after sign-in', () => {
    test('pusher-js signed in joins with authorizeChannel(socketId, channel): me is the signed-in user', async (t) => {
      const ch = `presence-room.${++seq}`;
      const id = uid('pres-');
      const watcher = await connect(t);
      await watcher.subscribePresence(ch, { user_id: 'watcher' });
      // A channelAuthorization handler that never passes presence data (user: undefined).
      const p = await signedPusher(t, { id, user_info: { name: 'Signed' } });
      const { channel, data: members } = await pusherSubscribe(p, ch);
      assert.equal(channel.members.me?.id, id, `me ${JSON.stringify(channel.members.me)}`);
      assert.deepEqual(channel.members.me.info, { name: 'Signed' });
      assert.equal(members.count, 2);
      assert.deepEqual(Object.keys(members.members).sort(), [id, 'watcher'].sort());
      const sent = p.frames.items.find((i) => i.data.event === 'pusher_internal:subscription_succeeded' && i.data.channel === ch);
      assert.ok(sent, p.frames.describe());
      const added = await watcher.next((f) => f.event === 'pusher_internal:member_added' && f.channel === ch);
      assert.equal(String(added.data.user_id), id, added.raw);
      assert.deepEqual(added.data.user_info, { name: 'Signed' });
      const users = await (await sdk.get({ path: `/channels/${ch}/users` })).json();
      assert.deepEqual(users.users.map((u) => String(u.id)).sort(), [id, 'watcher'].sort());
    });

    test('raw: signed in, auth over "{socket_id}:{channel}" without channel_data -> member is the user', async (t) => {
      const ch = `presence-room.${++seq}`;
      const id = uid('rawpres-');
      const c = await connect(t);
      await rawSignInOk(c, { id, user_info: { k: 'v' } });
      const ok = await c.subscribeOk(ch, { auth: privateAuth(c.socketId, ch) });
      assert.deepEqual(ok.data.presence.ids.map(String), [id], ok.raw);
      assert.deepEqual(ok.data.presence.hash[id], { k: 'v' }, ok.raw);
      assert.equal(ok.data.presence.count, 1);
    });

    test('raw: not signed in, no channel_data -> subscription_error mentioning channel_data', async (t) => {
      const ch = `presence-room.${++seq}`;
      const c = await connect(t);
      c.subscribe(ch, { auth: privateAuth(c.socketId, ch) });
      const f = await c.next(isResult(ch));
      assert.equal(f.event, 'pusher:subscription_error', f.raw);
      assert.match(JSON.stringify(f.data), /channel_data/);
      await c.ping();
    });

    test('raw: sign-in failed, no channel_data -> refused', async (t) => {
      const ch = `presence-room.${++seq}`;
      const c = await connect(t);
      const s = await rawSignIn(c, { id: uid() }, DEFAULT_APP, { secret: 'wrong' });
      assert.equal(s.event, 'pusher:error', s.raw);
      c.subscribe(ch, { auth: privateAuth(c.socketId, ch) });
      const f = await c.next(isResult(ch));
      assert.equal(f.event, 'pusher:subscription_error', f.raw);
    });

    test('raw: signed in but channel auth signed with the wrong secret -> refused', async (t) => {
      const ch = `presence-room.${++seq}`;
      const c = await connect(t);
      await rawSignInOk(c, { id: uid() });
      c.subscribe(ch, { auth: privateAuth(c.socketId, ch, DEFAULT_APP, { secret: 'wrong' }) });
      const f = await c.next(isResult(ch));
      assert.equal(f.event, 'pusher:subscription_error', f.raw);
    });

    test('pusher-js not signed in, no presence data: refused (client side, nothing joins)', async (t) => {
      const ch = `presence-room.${++seq}`;
      const p = makeUserPusher(srv.port, { t, user: { id: uid() } }); // never calls signin()
      await waitForState(p, 'connected');
      await assert.rejects(pusherSubscribe(p, ch), /subscription_error/);
      const body = await (await sdk.get({ path: `/channels/${ch}`, params: { info: 'user_count' } })).json();
      assert.equal(body.occupied, false, JSON.stringify(body));
    });

    test('explicit channel_data still wins over the sign-in identity', async (t) => {
      const ch = `presence-room.${++seq}`;
      const c = await connect(t);
      await rawSignInOk(c, { id: uid() });
      const ok = await c.subscribeOk(ch, presenceAuth(c.socketId, ch, { user_id: 'explicit' }));
      assert.deepEqual(ok.data.presence.ids.map(String), ['explicit'], ok.raw);
    });
  });

  describe('id shapes and app isolation', () => {
    const OTHER = app({ id: 'other-id', key: 'other-key', secret: 'other-secret' });
    let srv2;
    before(async () => { srv2 = await startServer({ apps: [DEFAULT_APP, OTHER] }); });
    after(() => srv2?.stop());
    const connect2 = async (t, appCfg) => {
      const c = await RawClient.connect(srv2.wsUrl(appCfg.key));
      t.after(() => c.terminate());
      return c;
    };

    test('e-mail-like user id: sendToUser and terminateUserConnections work', async (t) => {
      const id = `ann.${seq}@example.com`;
      const p = await signedPusher(t, { id });
      clearCloseTimerAtEnd(t, p);
      const got = new Recorder().on(p.user, 'hello');
      await sdk.sendToUser(id, 'hello', { to: id });
      assert.deepEqual((await got.nextEvent('hello')).data, { to: id });
      const c = await connect(t);
      await rawSignInOk(c, { id });
      const res = await sdk.terminateUserConnections(id);
      assert.equal(res.status, 200);
      assert.equal((await c.waitClosed()).code, 4009);
    });

    test('presence member with a numeric user_id is terminated by its string id', async (t) => {
      const n = 900000 + (++seq);
      const c = await connect(t);
      await c.subscribePresence(`presence-num.${seq}`, { user_id: n });
      await sdk.terminateUserConnections(String(n));
      assert.equal((await c.waitClosed()).code, 4009, c.describe());
    });

    test('same user id in another app: sendToUser and terminate stay within their app', async (t) => {
      const id = uid('shared-');
      const inDefault = await connect2(t, DEFAULT_APP);
      await rawSignInOk(inDefault, { id });
      const inOther = await connect2(t, OTHER);
      await rawSignInOk(inOther, { id }, OTHER);
      const otherSdk = makeSdk(srv2.port, OTHER);
      const defaultSdk = makeSdk(srv2.port, DEFAULT_APP);
      await otherSdk.sendToUser(id, 'only-other', {});
      await inOther.nextEvent('only-other');
      await defaultSdk.sendToUser(id, 'only-default', {});
      await inDefault.nextEvent('only-default');
      await otherSdk.terminateUserConnections(id);
      assert.equal((await inOther.waitClosed()).code, 4009);
      await inDefault.ping();
      assert.ok(inDefault.isOpen, 'terminate in another app closed this socket');
      assert.deepEqual(inDefault.all((f) => f.event === 'only-other').map((f) => f.raw), []);
    });

    test('sign-in signed with another app secret is refused', async (t) => {
      const c = await connect2(t, DEFAULT_APP);
      const f = await rawSignIn(c, { id: uid() }, DEFAULT_APP, { key: OTHER.key, secret: OTHER.secret });
      assert.equal(f.event, 'pusher:error', f.raw);
      assert.equal(f.data.code, 4009);
    });

    test('disabled-user-auth error names the app', async (t) => {
      const c = await connect(t, NO_USERS);
      const f = await rawSignIn(c, { id: uid() }, NO_USERS);
      assert.equal(f.event, 'pusher:error', f.raw);
      assert.equal(f.data.code, 4009);
      assert.match(f.data.message, /disabled/);
      assert.ok(f.data.message.includes(NO_USERS.id), f.raw);
      await c.ping();
    });
  });

  test('helper: userAuth() signs exactly like the SDK authenticateUser', async (t) => {
    // userAuth helper round-trip: the signature pusher-js's SDK would make equals ours.
    const c = await connect(t);
    const user = { id: uid() };
    const mine = userAuth(c.socketId, user);
    const sdkMade = makeSdk(srv.port).authenticateUser(c.socketId, user);
    assert.deepEqual(mine, sdkMade);
  });
});
