// Graceful shutdown: 4200 to clients, /ready 503, exit within the grace period, pusher-js reconnect.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../lib/server.js';
import {
  RawClient, makePusher, makeSdk, pusherSubscribe, waitForState, withTimeout, waitUntil,
} from '../lib/clients.js';

const GRACE = 2; // seconds

describe('graceful shutdown', () => {
  test('SIGTERM: clients get pusher:error 4200 + close 4200, /ready 503, exit within grace', async (t) => {
    const srv = await startServer({ server: { shutdown_grace_period: GRACE } });
    t.after(() => srv.stop('SIGKILL'));
    const a = await RawClient.connect(srv.wsUrl());
    const b = await RawClient.connect(srv.wsUrl());
    t.after(() => { a.terminate(); b.terminate(); });
    await a.subscribeOk('shutdown-test');

    const signalledAt = Date.now();
    srv.proc.kill('SIGTERM');
    let readyStatus = null;
    for (const c of [a, b]) {
      const err = await c.nextEvent('pusher:error', undefined, 5000);
      assert.equal(err.data.code, 4200, err.raw);
      if (c === a) {
        // The server is now shutting down. Best effort: the listener may already be closed,
        // in which case there is nothing to check.
        readyStatus = await fetch(srv.httpUrl('/ready'), { signal: AbortSignal.timeout(1000) })
          .then((r) => r.status)
          .catch(() => null);
      }
      const close = await c.waitClosed(5000);
      assert.equal(close.code, 4200);
    }
    const exit = await withTimeout(srv.exited, (GRACE + 3) * 1000, 'process exit');
    const took = Date.now() - signalledAt;
    assert.ok(took <= (GRACE + 1.5) * 1000, `exit took ${took} ms (grace ${GRACE} s)`);
    assert.ok(exit.code === 0 || exit.signal === null, `exit ${JSON.stringify(exit)}`);
    if (readyStatus !== null) assert.equal(readyStatus, 503, '/ready during shutdown');
  });

  test('pusher-js reconnects and resubscribes after a restart on the same port', async (t) => {
    const first = await startServer({ server: { shutdown_grace_period: GRACE } });
    t.after(() => first.stop('SIGKILL'));
    const p = makePusher(first.port, { t });
    await waitForState(p, 'connected', 5000);
    const { channel } = await pusherSubscribe(p, 'private-restart');
    const firstSocket = p.connection.socket_id;

    const states = [];
    p.connection.bind('state_change', (s) => states.push(s.current));
    first.proc.kill('SIGTERM');
    await withTimeout(first.exited, (GRACE + 3) * 1000, 'first server exit');
    await waitUntil(() => states.length > 0, 5000, 'pusher-js to notice the shutdown');

    const second = await startServer({ port: first.port, server: { shutdown_grace_period: GRACE } });
    t.after(() => second.stop('SIGKILL'));
    const resubscribed = withTimeout(new Promise((r) => channel.bind('pusher:subscription_succeeded', r)), 30_000, 'resubscription');
    // pusher-js may spend its 15 s strategy timeout on an attempt made while the old server was exiting.
    await waitForState(p, 'connected', 30_000);
    assert.notEqual(p.connection.socket_id, firstSocket);
    await resubscribed;

    const got = withTimeout(new Promise((r) => channel.bind('after-restart', r)), 5000, 'event after restart');
    await makeSdk(second.port).trigger('private-restart', 'after-restart', { ok: true });
    assert.deepEqual(await got, { ok: true });
  });
});
