// Handshake, close codes, heartbeats.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, app, DEFAULT_APP } from '../lib/server.js';
import { RawClient, SOCKET_ID_RE, makePusher, sleep, waitUntil, withTimeout } from '../lib/clients.js';

const DISABLED = app({ id: 'disabled-id', key: 'disabled-key', secret: 'disabled-secret', enabled: false });
const LIMITED = app({ id: 'limited-id', key: 'limited-key', secret: 'limited-secret', max_connections: 2 });

/** Opens a socket expected to be refused; returns {error frame, close info}. */
async function refused(url) {
  const c = new RawClient(url);
  try {
    const err = await c.next(() => true, 5000, 'first frame');
    const close = await c.waitClosed(5000);
    return { err, close, frames: c.frames };
  } finally {
    c.terminate();
  }
}

describe('connection', () => {
  let srv;
  before(async () => {
    srv = await startServer({ apps: [DEFAULT_APP, DISABLED, LIMITED] });
  });
  after(() => srv?.stop());

  test('connection_established carries socket_id and activity_timeout (JSON string data)', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    const f = c.established;
    assert.equal(f.event, 'pusher:connection_established');
    assert.equal(typeof f.msg.data, 'string', 'data must be a JSON-encoded string');
    assert.match(f.data.socket_id, SOCKET_ID_RE);
    assert.equal(f.data.activity_timeout, 30);
  });

  test('socket ids are unique per connection', async (t) => {
    const a = await RawClient.connect(srv.wsUrl());
    const b = await RawClient.connect(srv.wsUrl());
    t.after(() => { a.terminate(); b.terminate(); });
    assert.notEqual(a.socketId, b.socketId);
  });

  test('unknown app key -> pusher:error 4001 then close 4001', async () => {
    const { err, close } = await refused(srv.wsUrl('no-such-key'));
    assert.equal(err.event, 'pusher:error', err.raw);
    assert.equal(err.data.code, 4001);
    assert.equal(typeof err.data.message, 'string');
    assert.equal(close.code, 4001);
  });

  test('disabled app -> 4003', async () => {
    const { err, close } = await refused(srv.wsUrl(DISABLED.key));
    assert.equal(err.event, 'pusher:error', err.raw);
    assert.equal(err.data.code, 4003);
    assert.equal(close.code, 4003);
  });

  test('app over max_connections -> 4004, existing sockets unaffected', async (t) => {
    const a = await RawClient.connect(srv.wsUrl(LIMITED.key));
    const b = await RawClient.connect(srv.wsUrl(LIMITED.key));
    t.after(() => { a.terminate(); b.terminate(); });
    const { err, close } = await refused(srv.wsUrl(LIMITED.key));
    assert.equal(err.event, 'pusher:error', err.raw);
    assert.equal(err.data.code, 4004);
    assert.equal(close.code, 4004);
    await a.ping();
    await b.ping();
  });

  test('a freed connection slot can be reused', async (t) => {
    // The server learns about closes asynchronously (also those of the previous test):
    // retry (bounded) until a slot is free.
    const connectRetrying = async () => {
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          const c = await RawClient.connect(srv.wsUrl(LIMITED.key));
          t.after(() => c.terminate());
          return c;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await sleep(50);
        }
      }
    };
    await connectRetrying();
    const b = await connectRetrying();
    b.close();
    await b.waitClosed();
    const c = await connectRetrying();
    assert.match(c.socketId, SOCKET_ID_RE);
  });

  test('missing protocol -> 4008', async () => {
    const { err, close } = await refused(srv.wsUrl(DEFAULT_APP.key, 'client=js&version=8.4.0'));
    assert.equal(err.event, 'pusher:error', err.raw);
    assert.equal(err.data.code, 4008);
    assert.equal(close.code, 4008);
  });

  test('missing query string entirely -> 4008', async () => {
    const { err, close } = await refused(srv.wsUrl(DEFAULT_APP.key, null));
    assert.equal(err.data?.code, 4008, err.raw);
    assert.equal(close.code, 4008);
  });

  // Pusher's codes: 4007 = unsupported protocol version, 4006 = invalid version format.
  for (const [proto, code] of [['3', 4007], ['99', 4007], ['1', 4007], ['abc', 4006], ['7.5', 4006]]) {
    test(`protocol=${proto} -> ${code}`, async () => {
      const { err, close } = await refused(srv.wsUrl(DEFAULT_APP.key, `protocol=${proto}&client=js&version=8.4.0`));
      assert.equal(err.event, 'pusher:error', err.raw);
      assert.equal(err.data.code, code);
      assert.equal(close.code, code);
    });
  }

  for (const proto of ['4', '5', '6', '7']) {
    test(`protocol=${proto} accepted`, async (t) => {
      const c = await RawClient.connect(srv.wsUrl(DEFAULT_APP.key, `protocol=${proto}&client=js&version=8.4.0`));
      t.after(() => c.terminate());
      assert.match(c.socketId, SOCKET_ID_RE);
    });
  }

  test('pusher-js does not reconnect after 4001', async (t) => {
    const p = makePusher(srv.port, { t, appCfg: { ...DEFAULT_APP, key: 'no-such-key' } });
    // pusher-js starts connecting inside its constructor: record the state it is already in.
    const states = [p.connection.state];
    p.connection.bind('state_change', (s) => states.push(s.current));
    const terminal = new Promise((resolve) => {
      const check = () => { if (['failed', 'disconnected'].includes(p.connection.state)) resolve(); };
      p.connection.bind('state_change', check);
      check();
    });
    await withTimeout(terminal, 5000, 'pusher-js failed/disconnected');
    const connectingSoFar = states.filter((s) => s === 'connecting').length;
    // Kept fixed wait: no server signal can show that pusher-js will NOT retry; its longest
    // retry delay is 1 s (retryIn(1000) after a closed socket or a 'backoff' close code).
    await sleep(1500);
    assert.ok(['failed', 'disconnected'].includes(p.connection.state), `state ${p.connection.state}; history ${states}`);
    assert.equal(states.filter((s) => s === 'connecting').length, connectingSoFar, `reconnected: ${states}`);
    assert.equal(connectingSoFar, 1, `history ${states}`);
  });

  test('pusher-js connects and reports a socket id', async (t) => {
    const p = makePusher(srv.port, { t });
    await withTimeout(new Promise((r) => p.connection.bind('connected', r)), 5000, 'connected');
    assert.match(p.connection.socket_id, SOCKET_ID_RE);
  });

  test('pusher:ping -> pusher:pong', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    const pong = await c.ping();
    assert.equal(pong.event, 'pusher:pong');
    assert.deepEqual(pong.data ?? {}, {});
  });

  test('WebSocket ping control frame -> pong frame with the same payload', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    c.ws.ping('hello-ping');
    await withTimeout(new Promise((resolve) => {
      const check = () => (c.pongs.includes('hello-ping') ? resolve() : setTimeout(check, 10));
      check();
    }), 3000, 'pong control frame');
  });
});

describe('connection under path_prefix', () => {
  let srv;
  before(async () => {
    srv = await startServer({ server: { path_prefix: '/ws' } });
  });
  after(() => srv?.stop());

  test('ws://host/ws/app/{key} is served', async (t) => {
    const c = await RawClient.connect(srv.wsUrl(DEFAULT_APP.key, undefined, '/ws'));
    t.after(() => c.terminate());
    assert.match(c.socketId, SOCKET_ID_RE);
    await c.ping();
  });

  test('pusher-js with wsPath connects', async (t) => {
    const p = makePusher(srv.port, { t, wsPath: '/ws' });
    await withTimeout(new Promise((r) => p.connection.bind('connected', r)), 5000, 'connected');
    assert.match(p.connection.socket_id, SOCKET_ID_RE);
  });
});

describe('server-initiated heartbeat (activity_timeout=1, pong_timeout=1)', () => {
  let srv;
  before(async () => {
    srv = await startServer({ server: { activity_timeout: 1, pong_timeout: 1 } });
  });
  after(() => srv?.stop());

  test('advertises activity_timeout 1', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    assert.equal(c.established.data.activity_timeout, 1);
  });

  test('silent client is pinged, then closed with 4201', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    const start = Date.now();
    const ping = await c.nextEvent('pusher:ping', undefined, 4000);
    const pingAfter = ping.at - start;
    assert.ok(pingAfter >= 500, `ping came too early (${pingAfter} ms)`);
    const close = await c.waitClosed(4000);
    assert.equal(close.code, 4201, `close ${JSON.stringify(close)}`);
    const closeAfterPing = close.at - ping.at;
    assert.ok(closeAfterPing >= 500 && closeAfterPing <= 3500, `closed ${closeAfterPing} ms after ping`);
  });

  test('client answering pusher:pong stays open', async (t) => {
    const c = await RawClient.connect(srv.wsUrl());
    t.after(() => c.terminate());
    let pings = 0;
    c.ws.on('message', (buf) => {
      const msg = JSON.parse(buf.toString());
      if (msg.event === 'pusher:ping') {
        pings += 1;
        c.send({ event: 'pusher:pong', data: {} });
      }
    });
    // Open across several ping periods: a server that ignored the pongs would close the
    // socket pong_timeout (1 s) after its first ping, before it could send a third.
    await waitUntil(() => pings >= 3 || c.closeInfo, 8000, 'three server pings');
    assert.equal(c.closeInfo, null, `closed: ${JSON.stringify(c.closeInfo)}`);
    assert.ok(pings >= 3, `expected three server pings, got ${pings}`);
    await c.ping();
  });

  test('pusher-js stays connected (it answers server pings)', async (t) => {
    const p = makePusher(srv.port, { t });
    await withTimeout(new Promise((r) => p.connection.bind('connected', r)), 5000, 'connected');
    const states = [];
    p.connection.bind('state_change', (s) => states.push(s.current));
    // Both sides ping after 1 s of silence: count the heartbeats (a server ping, or the pong to
    // pusher-js's ping) and require the connection to stay up across three of them.
    let heartbeats = 0;
    p.connection.bind('message', (m) => { if (['pusher:ping', 'pusher:pong'].includes(m?.event)) heartbeats += 1; });
    await waitUntil(() => heartbeats >= 3 || states.length > 0, 8000, `three heartbeats (states ${states})`);
    assert.equal(p.connection.state, 'connected');
    assert.deepEqual(states, []);
    assert.ok(heartbeats >= 3, `heartbeats ${heartbeats}`);
  });
});
