// Public / private / encrypted subscriptions, auth failures, channel name validation.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, DEFAULT_APP } from '../lib/server.js';
import {
  RawClient, privateAuth, hmacHex, makeSdk, makePusher, pusherSubscribe, waitForState, withTimeout,
} from '../lib/clients.js';

const isResult = (channel) => (f) =>
  (f.channel === channel && ['pusher_internal:subscription_succeeded', 'pusher:subscription_error'].includes(f.event)) ||
  f.event === 'pusher:error';

describe('subscriptions (default soketi error mode)', () => {
  let srv;
  let sdk;
  before(async () => {
    srv = await startServer();
    sdk = makeSdk(srv.port);
  });
  after(() => srv?.stop());

  const connect = async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    return c;
  };

  test('public channel: subscription_succeeded with channel and data "{}"', async (t) => {
    const c = await connect(t);
    c.subscribe('my-channel');
    const f = await c.nextEvent('pusher_internal:subscription_succeeded', 'my-channel');
    assert.equal(f.channel, 'my-channel');
    assert.equal(f.msg.data, '{}');
  });

  test('public channel accepts a missing auth field', async (t) => {
    const c = await connect(t);
    c.send({ event: 'pusher:subscribe', data: { channel: 'no-auth-field' } });
    await c.nextEvent('pusher_internal:subscription_succeeded', 'no-auth-field');
  });

  test('subscribing twice is idempotent: success again, single delivery', async (t) => {
    const c = await connect(t);
    await c.subscribeOk('twice');
    await c.subscribeOk('twice');
    await sdk.trigger('twice', 'hello', { n: 1 });
    const ev = await c.nextEvent('hello', 'twice');
    assert.deepEqual(ev.data, { n: 1 });
    // No duplicate delivery: a second copy would arrive before the pong.
    await c.expectNoneAfterPing((f) => f.event === 'hello', 'duplicate delivery');
    const info = await (await sdk.get({ path: '/channels/twice', params: { info: 'subscription_count' } })).json();
    assert.equal(info.subscription_count, 1);
  });

  test('unsubscribe stops delivery', async (t) => {
    const a = await connect(t);
    const b = await connect(t);
    await a.subscribeOk('unsub-me');
    await b.subscribeOk('unsub-me');
    a.unsubscribe('unsub-me');
    // The unsubscribe has no reply; a ping round-trip proves the server processed it (in order).
    await a.ping();
    await sdk.trigger('unsub-me', 'after', {});
    await b.nextEvent('after', 'unsub-me');
    // The unsubscribed socket does NOT receive it: it would arrive before the pong.
    await a.expectNoneAfterPing((f) => f.event === 'after');
  });

  test('private channel with valid auth succeeds', async (t) => {
    const c = await connect(t);
    c.subscribe('private-orders', { auth: privateAuth(c.socketId, 'private-orders') });
    const f = await c.next(isResult('private-orders'));
    assert.equal(f.event, 'pusher_internal:subscription_succeeded', f.raw);
    assert.equal(f.msg.data, '{}');
  });

  test('private channel with bad signature -> pusher:subscription_error AuthError 401', async (t) => {
    const c = await connect(t);
    c.subscribe('private-orders', { auth: `${DEFAULT_APP.key}:${hmacHex('wrong-secret', `${c.socketId}:private-orders`)}` });
    const f = await c.next(isResult('private-orders'));
    assert.equal(f.event, 'pusher:subscription_error', f.raw);
    assert.equal(f.channel, 'private-orders');
    assert.equal(f.data.type, 'AuthError');
    assert.equal(f.data.status, 401);
    assert.match(f.data.error, /signature/i);
    await c.ping(); // connection stays open
  });

  test('private channel: signature for another socket id is refused', async (t) => {
    const c = await connect(t);
    c.subscribe('private-orders', { auth: privateAuth('1234.5678', 'private-orders') });
    const f = await c.next(isResult('private-orders'));
    assert.equal(f.event, 'pusher:subscription_error', f.raw);
    assert.equal(f.data.status, 401);
  });

  test('private channel: auth with a key that is not the app key -> error mentions the key', async (t) => {
    const c = await connect(t);
    c.subscribe('private-orders', { auth: privateAuth(c.socketId, 'private-orders', DEFAULT_APP, { key: 'other-key' }) });
    const f = await c.next(isResult('private-orders'));
    assert.equal(f.event, 'pusher:subscription_error', f.raw);
    assert.equal(f.data.type, 'AuthError');
    assert.equal(f.data.status, 401);
    assert.match(f.data.error, /key/i);
  });

  for (const auth of [undefined, '', 'garbage', 'app-key:', ':abc']) {
    test(`private channel with auth ${JSON.stringify(auth)} is refused`, async (t) => {
      const c = await connect(t);
      const data = { channel: 'private-x' };
      if (auth !== undefined) data.auth = auth;
      c.send({ event: 'pusher:subscribe', data });
      const f = await c.next(isResult('private-x'));
      assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', f.raw);
      await c.ping();
    });
  }

  const badNames = ['foo bar', 'foo$', 'a'.repeat(201), '#server-to-user-1', 'ümlaut', ''];
  for (const name of badNames) {
    test(`invalid channel name ${JSON.stringify(name.length > 30 ? `${name.slice(0, 10)}…(${name.length})` : name)} is refused`, async (t) => {
      const c = await connect(t);
      c.subscribe(name);
      const f = await c.next(
        (fr) => ['pusher_internal:subscription_succeeded', 'pusher:subscription_error', 'pusher:error'].includes(fr.event),
        5000,
        'subscription result',
      );
      assert.notEqual(f.event, 'pusher_internal:subscription_succeeded', f.raw);
      if (name !== '') {
        const mentions = f.channel === name || JSON.stringify(f.data ?? '').includes(JSON.stringify(name).slice(1, -1));
        assert.ok(mentions, `error does not mention the channel: ${f.raw.slice(0, 500)}`);
      }
      // Success never arrives: it would come before the pong (which also shows the socket is usable).
      await c.expectNoneAfterPing((fr) => fr.event === 'pusher_internal:subscription_succeeded');
    });
  }

  test('200-character channel name is accepted', async (t) => {
    const c = await connect(t);
    const name = `c${'x'.repeat(199)}`;
    await c.subscribeOk(name);
  });

  test('all allowed name characters are accepted', async (t) => {
    const c = await connect(t);
    await c.subscribeOk('Az09_-=@,.;');
  });

  test('pusher-js private subscription via customHandler succeeds and receives events', async (t) => {
    const p = makePusher(srv.port, { t });
    const { channel } = await pusherSubscribe(p, 'private-dashboard');
    const got = withTimeout(new Promise((r) => channel.bind('stats.updated', r)), 5000, 'event');
    await sdk.trigger('private-dashboard', 'stats.updated', { cpu: 3 });
    assert.deepEqual(await got, { cpu: 3 });
  });

  test('pusher-js receives pusher:subscription_error on bad signature', async (t) => {
    const p = makePusher(srv.port, { t, auth: { secret: 'wrong-secret' } });
    await waitForState(p, 'connected');
    const channel = p.subscribe('private-dashboard');
    const err = await withTimeout(new Promise((r) => channel.bind('pusher:subscription_error', r)), 5000, 'subscription_error');
    assert.equal(err.status, 401);
    assert.equal(err.type, 'AuthError');
    assert.equal(channel.subscribed, false);
  });

  test('encrypted channel: data relayed untouched and decrypted by pusher-js', async (t) => {
    const masterKey = crypto.randomBytes(32).toString('base64');
    const sdkEnc = makeSdk(srv.port, DEFAULT_APP, { encryptionMasterKeyBase64: masterKey });
    const p = makePusher(srv.port, { t, auth: { sdkExtra: { encryptionMasterKeyBase64: masterKey } } });
    const { channel } = await pusherSubscribe(p, 'private-encrypted-secrets');
    const raw = await RawClient.connect(srv.wsUrl());
    t.after(() => raw.terminate());
    await raw.subscribePrivate('private-encrypted-secrets');
    const got = withTimeout(new Promise((r) => channel.bind('secret-event', r)), 5000, 'decrypted event');
    await sdkEnc.trigger('private-encrypted-secrets', 'secret-event', { launch: 'codes', n: 42 });
    assert.deepEqual(await got, { launch: 'codes', n: 42 });
    const f = await raw.nextEvent('secret-event', 'private-encrypted-secrets');
    assert.equal(typeof f.msg.data, 'string');
    assert.ok(f.data.nonce && f.data.ciphertext, `not an encrypted envelope: ${f.raw}`);
    assert.deepEqual(Object.keys(f.data).sort(), ['ciphertext', 'nonce']);
  });
});

describe('subscriptions (subscription_error_mode = "pusher")', () => {
  let srv;
  before(async () => {
    srv = await startServer({ server: { subscription_error_mode: 'pusher' } });
  });
  after(() => srv?.stop());

  test('bad signature -> pusher:error with code null and a message', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    c.subscribe('private-orders', { auth: `${DEFAULT_APP.key}:${'0'.repeat(64)}` });
    const f = await c.next(isResult('private-orders'));
    assert.equal(f.event, 'pusher:error', f.raw);
    assert.equal(typeof f.data, 'object');
    assert.equal(f.data.code, null);
    assert.equal(typeof f.data.message, 'string');
    assert.ok(f.data.message.length > 0);
    // Neither success nor a soketi-style subscription_error follows: either would come before
    // the pong (which also shows the socket is usable).
    await c.expectNoneAfterPing((fr) => fr.event === 'pusher_internal:subscription_succeeded' || fr.event === 'pusher:subscription_error');
  });

  test('valid auth still succeeds', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    await c.subscribePrivate('private-orders');
  });
});
