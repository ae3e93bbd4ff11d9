// Helpers for the user features: pusher-js sign-in with a local user authenticator, raw
// `pusher:signin`, and recorders that keep everything a pusher-js object emitted so a test can
// wait (bounded) for an event that may already have fired.
import PusherJs from 'pusher-js';
import { DEFAULT_APP } from './server.js';
import { makeSdk, pusherOptions, localAuthorizer, withTimeout, hmacHex } from './clients.js';

/**
 * A `userAuthentication.customHandler` that signs with the Node SDK's `authenticateUser`, like a
 * backend's user-auth endpoint. `user` is the user object (`{id, user_info, watchlist}`) or a
 * function `(socketId) => user`; `secret` overrides the app secret (to sign wrongly).
 */
export function localUserAuthenticator({ appCfg = DEFAULT_APP, secret, user } = {}) {
  const signer = makeSdk(1, { ...appCfg, secret: secret ?? appCfg.secret });
  return ({ socketId }, callback) => {
    try {
      const u = typeof user === 'function' ? user(socketId) : user;
      callback(null, signer.authenticateUser(socketId, u));
    } catch (err) {
      callback(err, null);
    }
  };
}

/**
 * Keeps every call of one or more pusher-js bindables (connection, channel, user, watchlist).
 * Entries are `{event, data, at}`; `next(pred)` returns the first unconsumed match (bounded).
 */
export class Recorder {
  constructor() {
    this.items = [];
    this.waiters = new Set();
  }

  /** Records `event` emitted by `target` (`target.bind(event, …)`). Returns this. */
  on(target, event, map = (data) => data) {
    target.bind(event, (data) => this.push(event, map(data)));
    return this;
  }

  push(event, data) {
    this.items.push({ event, data, at: Date.now(), consumed: false });
    for (const w of [...this.waiters]) w();
  }

  describe() {
    return this.items.map((i) => `${i.consumed ? '(seen) ' : ''}${i.event} ${JSON.stringify(i.data)}`).join('\n  ') || '(nothing)';
  }

  pending(pred = () => true) { return this.items.filter((i) => !i.consumed && pred(i)); }

  next(pred, ms = 5000, label = 'matching event') {
    let check;
    const found = new Promise((resolve) => {
      check = () => {
        const it = this.items.find((i) => !i.consumed && pred(i));
        if (!it) return;
        it.consumed = true;
        this.waiters.delete(check);
        resolve(it);
      };
      this.waiters.add(check);
      check();
    });
    return withTimeout(found, ms, label).catch((e) => {
      this.waiters.delete(check);
      throw new Error(`${e.message}; recorded:\n  ${this.describe()}`);
    });
  }

  nextEvent(event, ms = 5000) { return this.next((i) => i.event === event, ms, event); }

  /**
   * Asserts that nothing matching `pred` was recorded once `barrier()` resolved: a
   * pusherPing of the recorded client, or marker events that arrive after anything unwanted.
   */
  async expectNoneAfter(barrier, pred, label = 'unexpected event') {
    await barrier();
    this.assertNone(pred, label);
  }

  /** Throws when an unconsumed item matching `pred` was recorded. */
  assertNone(pred, label = 'unexpected event') {
    const hits = this.pending(pred);
    if (hits.length) throw new Error(`${label}: ${hits.map((h) => `${h.event} ${JSON.stringify(h.data)}`).join(' | ')}`);
  }
}

/** Records every frame pusher-js decoded (`{event, channel, data}`) under the event name 'frame'. */
export function recordFrames(pusher) {
  const r = new Recorder();
  pusher.connection.bind('message', (m) => r.push('frame', m));
  return r;
}

/**
 * pusher-js with both a channel authorizer (`auth`, see localAuthorizer) and a user
 * authenticator (`user`, `userSecret`). `client.frames` records every decoded frame and
 * `client.states` every connection state change. Disconnected at test end when `t` is given.
 */
export function makeUserPusher(port, { t, appCfg = DEFAULT_APP, user, userSecret, auth = {}, ...extra } = {}) {
  const client = new PusherJs(appCfg.key, pusherOptions(port, {
    channelAuthorization: { customHandler: localAuthorizer({ appCfg, ...auth }) },
    userAuthentication: { customHandler: localUserAuthenticator({ appCfg, secret: userSecret, user }) },
    ...extra,
  }));
  client.frames = recordFrames(client);
  client.states = new Recorder().on(client.connection, 'state_change');
  client.errors = new Recorder().on(client.connection, 'error');
  if (t) t.after(() => client.disconnect());
  return client;
}

const isSigninResult = (i) => i.data?.event === 'pusher:signin_success' || i.data?.event === 'pusher:error';

/**
 * Calls `pusher.signin()` and resolves with the frame that answered it: `pusher:signin_success`
 * or `pusher:error` (requires a client from makeUserPusher).
 */
export async function signIn(pusher, ms = 5000) {
  pusher.user.signin();
  const it = await pusher.frames.next(isSigninResult, ms, 'pusher:signin_success or pusher:error');
  return it.data;
}

/** signIn that must succeed; returns pusher.user.user_data. */
export async function signInOk(pusher, ms = 5000) {
  const frame = await signIn(pusher, ms);
  if (frame.event !== 'pusher:signin_success') {
    throw new Error(`sign-in refused: ${JSON.stringify(frame)}; frames:\n  ${pusher.frames.describe()}`);
  }
  if (!pusher.user.user_data) throw new Error(`pusher-js did not accept user_data ${JSON.stringify(frame.data)}`);
  return pusher.user.user_data;
}

/** `{auth, user_data}` for a raw `pusher:signin`, signed like the SDKs do. */
export function userAuth(socketId, user, appCfg = DEFAULT_APP, { key = appCfg.key, secret = appCfg.secret } = {}) {
  const userData = typeof user === 'string' ? user : JSON.stringify(user);
  return { auth: `${key}:${hmacHex(secret, `${socketId}::user::${userData}`)}`, user_data: userData };
}

/** Sends a raw `pusher:signin` and returns the answering frame (signin_success or pusher:error). */
export async function rawSignIn(c, user, appCfg = DEFAULT_APP, opts = {}, ms = 5000) {
  c.send({ event: 'pusher:signin', data: userAuth(c.socketId, user, appCfg, opts) });
  return c.next((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error', ms, 'sign-in result');
}

/** Raw sign-in that must succeed. */
export async function rawSignInOk(c, user, appCfg = DEFAULT_APP, opts = {}) {
  const f = await rawSignIn(c, user, appCfg, opts);
  if (f.event !== 'pusher:signin_success') throw new Error(`raw sign-in refused: ${f.raw}`);
  return f;
}
