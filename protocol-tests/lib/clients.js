// Client-side helpers: raw WebSocket client, pusher-js / Echo / SDK factories, signing, waiting.
import crypto from 'node:crypto';
import WebSocket from 'ws';
import PusherJs from 'pusher-js';
import PusherSdk from 'pusher';
import Echo from 'laravel-echo';
import { DEFAULT_APP, sleep } from './server.js';

export { sleep };

export const SOCKET_ID_RE = /^\d+\.\d+$/;

/**
 * The one fixed window for asserting that something does NOT arrive, used only where the
 * protocol offers no barrier to wait on: what cluster nodes do on their own timers (declaring
 * a node dead, snapshots after a freeze, an engine outage or a late join) and webhooks sent by
 * other nodes. 500 ms is more than two cluster heartbeats (0.2 s in these tests) and more than
 * the cluster tests' webhook batch window plus leave delay (20 + 200 ms), with slack for a
 * loaded 2-core machine. Everywhere else a test waits on a barrier instead: a pusher:ping
 * round trip on the socket (RawClient.expectNoneAfterPing, pusherPing) or a marker event.
 */
export const QUIET_MS = 500;

/** Rejects after `ms` with a message naming what was awaited. */
export function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `predicate` (sync or async) every `interval` ms until truthy; bounded by `ms`. */
export async function waitUntil(predicate, ms = 5000, label = 'condition', interval = 25) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${label}`);
    await sleep(interval);
  }
}

/** Resolves on the next `event` from an EventEmitter-like / pusher-js bindable (bounded). */
export function once(target, event, ms = 5000, filter = () => true) {
  return withTimeout(
    new Promise((resolve) => {
      const handler = (...args) => {
        if (!filter(...args)) return;
        if (typeof target.unbind === 'function') target.unbind(event, handler);
        else target.off(event, handler);
        resolve(args.length > 1 ? args : args[0]);
      };
      if (typeof target.bind === 'function') target.bind(event, handler);
      else target.on(event, handler);
    }),
    ms,
    `event ${event}`,
  );
}

export const hmacHex = (secret, str) => crypto.createHmac('sha256', secret).update(str).digest('hex');
export const md5Hex = (str) => crypto.createHash('md5').update(str).digest('hex');

export function privateAuth(socketId, channel, appCfg = DEFAULT_APP, { key = appCfg.key, secret = appCfg.secret } = {}) {
  return `${key}:${hmacHex(secret, `${socketId}:${channel}`)}`;
}

export function presenceAuth(socketId, channel, channelData, appCfg = DEFAULT_APP, { key = appCfg.key, secret = appCfg.secret } = {}) {
  const cd = typeof channelData === 'string' ? channelData : JSON.stringify(channelData);
  return { auth: `${key}:${hmacHex(secret, `${socketId}:${channel}:${cd}`)}`, channel_data: cd };
}

function decodeData(data) {
  if (typeof data !== 'string') return data;
  try { return JSON.parse(data); } catch { return data; }
}

/**
 * Raw Pusher-protocol client over `ws`. Every received frame is kept as
 * `{raw, msg, event, channel, data}` (data = msg.data, JSON-decoded when it is a JSON string).
 * `next(pred)` returns the first not-yet-consumed matching frame and consumes it.
 */
export class RawClient {
  constructor(url, wsOptions = {}) {
    this.url = url;
    this.frames = [];
    this.waiters = new Set();
    this.socketId = null;
    this.closeInfo = null;
    this.pongs = [];
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...wsOptions });
    this.ws.on('message', (buf, isBinary) => {
      const raw = buf.toString();
      let msg = null;
      try { msg = JSON.parse(raw); } catch { /* non-JSON frame */ }
      const frame = { raw, isBinary, msg, event: msg?.event, channel: msg?.channel, data: decodeData(msg?.data), consumed: false, at: Date.now() };
      this.frames.push(frame);
      this._wake();
    });
    this.ws.on('pong', (payload) => { this.pongs.push(payload.toString()); this._wake(); });
    this.ws.on('error', (err) => { this.error = err; this._wake(); });
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
        resolve(this.closeInfo);
        this._wake();
      });
    });
  }

  /** Opens a socket and waits for its first frame (connection_established or an error). */
  static async connect(url, { timeout = 5000, expectEstablished = true, wsOptions } = {}) {
    const c = new RawClient(url, wsOptions);
    const first = await c.next(() => true, timeout, 'first frame');
    if (expectEstablished) {
      if (first.event !== 'pusher:connection_established') {
        c.terminate();
        throw new Error(`expected pusher:connection_established, got ${first.raw}`);
      }
      c.socketId = first.data?.socket_id;
      c.established = first;
    }
    c.first = first;
    return c;
  }

  _wake() { for (const w of [...this.waiters]) w(); }

  describe() {
    return this.frames.map((f) => `${f.consumed ? '(seen) ' : ''}${f.raw.length > 300 ? f.raw.slice(0, 300) + '…' : f.raw}`).join('\n  ');
  }

  /** First unconsumed frame satisfying `pred`, waiting up to `timeout` ms. */
  next(pred, timeout = 5000, label = 'matching frame') {
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = this.frames.find((fr) => !fr.consumed && pred(fr));
        if (f) {
          f.consumed = true;
          done();
          resolve(f);
          return;
        }
        if (this.closeInfo) {
          done();
          reject(new Error(`socket closed (${this.closeInfo.code} ${this.closeInfo.reason}) before ${label}; frames:\n  ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeout} ms waiting for ${label}; frames:\n  ${this.describe()}`));
      }, timeout);
      const done = () => { clearTimeout(timer); this.waiters.delete(check); };
      this.waiters.add(check);
      check();
    });
  }

  nextEvent(event, channel, timeout = 5000) {
    return this.next((f) => f.event === event && (channel === undefined || f.channel === channel), timeout, `${event}${channel ? ` on ${channel}` : ''}`);
  }

  /** Unconsumed frames matching `pred` (does not consume). */
  pending(pred = () => true) { return this.frames.filter((f) => !f.consumed && pred(f)); }
  all(pred = () => true) { return this.frames.filter(pred); }

  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }

  subscribe(channel, extra = {}) {
    this.send({ event: 'pusher:subscribe', data: { channel, auth: '', ...extra } });
  }

  async subscribeOk(channel, extra = {}, timeout = 5000) {
    this.subscribe(channel, extra);
    const f = await this.next(
      (fr) => (fr.channel === channel && ['pusher_internal:subscription_succeeded', 'pusher:subscription_error'].includes(fr.event)) || fr.event === 'pusher:error',
      timeout,
      `subscription result for ${channel}`,
    );
    if (f.event !== 'pusher_internal:subscription_succeeded') throw new Error(`subscription to ${channel} refused: ${f.raw}`);
    return f;
  }

  async subscribePrivate(channel, appCfg = DEFAULT_APP) {
    return this.subscribeOk(channel, { auth: privateAuth(this.socketId, channel, appCfg) });
  }

  async subscribePresence(channel, channelData, appCfg = DEFAULT_APP) {
    return this.subscribeOk(channel, presenceAuth(this.socketId, channel, channelData, appCfg));
  }

  unsubscribe(channel) { this.send({ event: 'pusher:unsubscribe', data: { channel } }); }

  /**
   * A pusher:ping round trip; resolves with the first pong that arrived after the ping was
   * sent (no other ping of this socket may be in flight). Also a barrier: the server answers a socket's frames in order, through the same queue
   * that carries everything else for that socket, so once the pong is here every frame the
   * server had queued for this socket before it read the ping has arrived too.
   */
  async ping(timeout = 5000) {
    const sentAt = this.frames.length;
    this.send({ event: 'pusher:ping', data: {} });
    return this.next((f) => f.event === 'pusher:pong' && this.frames.indexOf(f) >= sentAt, timeout, 'pusher:pong');
  }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }

  async waitClosed(timeout = 5000) { return withTimeout(this.closed, timeout, `close of ${this.url}`); }

  /**
   * Asserts that nothing matching `pred` arrived before the pong of a ping sent now (see
   * ping()). Frames that handling one read of the server causes for the same socket are
   * queued after that read's replies, so call it once the action under test was seen to be
   * handled: its reply arrived, or its effect on another socket or in the HTTP API.
   */
  async expectNoneAfterPing(pred, label = 'unexpected frame', timeout = 5000) {
    await this.ping(timeout);
    this.assertNone(pred, label);
  }

  /** Throws when an unconsumed frame matching `pred` is here. */
  assertNone(pred, label = 'unexpected frame') {
    const hits = this.pending(pred);
    if (hits.length) throw new Error(`${label} arrived: ${hits.map((h) => h.raw).join(' | ')}`);
  }

  close() { try { this.ws.close(); } catch { /* ignore */ } }
  terminate() { try { this.ws.terminate(); } catch { /* ignore */ } }
}

/** Node server SDK pointed at the test server. */
export function makeSdk(port, appCfg = DEFAULT_APP, extra = {}) {
  return new PusherSdk({
    appId: appCfg.id,
    key: appCfg.key,
    secret: appCfg.secret,
    host: '127.0.0.1',
    port: String(port),
    useTLS: false,
    timeout: 10_000,
    ...extra,
  });
}

/** A customHandler that signs locally with the Node SDK, exactly like a Laravel backend would. */
export function localAuthorizer({ appCfg = DEFAULT_APP, secret, user, sdkExtra = {}, port = 1 } = {}) {
  const signer = makeSdk(port, { ...appCfg, secret: secret ?? appCfg.secret }, sdkExtra);
  return ({ socketId, channelName }, callback) => {
    try {
      const presenceData = channelName.startsWith('presence-') ? (typeof user === 'function' ? user(channelName, socketId) : user) : undefined;
      callback(null, signer.authorizeChannel(socketId, channelName, presenceData));
    } catch (err) {
      callback(err, null);
    }
  };
}

export function pusherOptions(port, extra = {}) {
  return {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    ...extra,
  };
}

/** pusher-js client; `auth` options go to localAuthorizer. Disconnected at test end when `t` given. */
export function makePusher(port, { t, appCfg = DEFAULT_APP, auth = {}, ...extra } = {}) {
  const client = new PusherJs(appCfg.key, pusherOptions(port, {
    channelAuthorization: { customHandler: localAuthorizer({ appCfg, ...auth }) },
    ...extra,
  }));
  if (t) t.after(() => client.disconnect());
  return client;
}

export function waitForState(pusher, state, ms = 5000) {
  if (pusher.connection.state === state) return Promise.resolve();
  return once(pusher.connection, 'state_change', ms, (s) => s.current === state).then(() => undefined)
    .catch((e) => { throw new Error(`${e.message} (pusher-js state ${state}; now ${pusher.connection.state})`); });
}

/**
 * Barrier for a pusher-js client: a pusher:ping round trip on its socket (see RawClient.ping).
 * pusher-js handles frames in arrival order and its own listeners were bound first, so once
 * the pong is seen, every frame the server queued for this client before it has fired its
 * events. Same rule as RawClient.expectNoneAfterPing: call it once the action was handled.
 * (pusher-js pings by itself only after activity_timeout of silence: 30 s, longer than a test waits.)
 */
export async function pusherPing(pusher, ms = 5000) {
  if (pusher.connection.state !== 'connected') {
    throw new Error(`pusher-js is ${pusher.connection.state}, not connected: no ping barrier`);
  }
  const pong = once(pusher.connection, 'message', ms, (m) => m?.event === 'pusher:pong');
  pusher.connection.send_event('pusher:ping', {});
  await pong.catch((e) => { throw new Error(`${e.message} (pusher:pong barrier)`); });
}

/** Subscribes with pusher-js and resolves once subscription_succeeded fired (rejects on error). */
export function pusherSubscribe(pusher, name, ms = 5000) {
  const channel = pusher.subscribe(name);
  return withTimeout(new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', (data) => resolve({ channel, data }));
    channel.bind('pusher:subscription_error', (err) => reject(new Error(`subscription_error on ${name}: ${JSON.stringify(err)}`)));
  }), ms, `pusher-js subscription to ${name}`);
}

/** Laravel Echo (broadcaster 'pusher') with a local authorizer. */
export function makeEcho(port, { t, appCfg = DEFAULT_APP, auth = {}, ...extra } = {}) {
  const echo = new Echo({
    broadcaster: 'pusher',
    key: appCfg.key,
    Pusher: PusherJs,
    ...pusherOptions(port),
    channelAuthorization: { customHandler: localAuthorizer({ appCfg, ...auth }) },
    withoutInterceptors: true,
    ...extra,
  });
  if (t) t.after(() => echo.disconnect());
  return echo;
}

/**
 * Signs and sends an HTTP API request ourselves (to exercise bad timestamps, md5, etc.).
 * `path` is the full path, e.g. `/apps/app-id/events`.
 */
export async function signedRequest(port, method, path, {
  appCfg = DEFAULT_APP, key = appCfg.key, secret = appCfg.secret, body, params = {},
  timestamp = Math.floor(Date.now() / 1000), bodyMd5, signature,
} = {}) {
  const bodyText = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
  const q = { auth_key: key, auth_timestamp: String(timestamp), auth_version: '1.0', ...params };
  if (bodyText !== undefined) q.body_md5 = bodyMd5 ?? md5Hex(bodyText);
  const sorted = Object.keys(q).map((k) => [k.toLowerCase(), q[k]]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const toSign = [method.toUpperCase(), path, sorted.map(([k, v]) => `${k}=${v}`).join('&')].join('\n');
  const sig = signature ?? hmacHex(secret, toSign);
  const qs = new URLSearchParams([...Object.entries(q), ['auth_signature', sig]]).toString();
  const res = await fetch(`http://127.0.0.1:${port}${path}?${qs}`, {
    method,
    body: bodyText,
    headers: bodyText !== undefined ? { 'content-type': 'application/json' } : {},
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json, headers: res.headers };
}

/** Runs an SDK call expected to fail; returns the RequestError (status, body). */
export async function sdkError(promise) {
  try {
    const res = await promise;
    throw Object.assign(new Error(`expected an HTTP error, got ${res.status}`), { unexpected: true });
  } catch (err) {
    if (err.unexpected) throw err;
    return err;
  }
}

export function parseJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}
