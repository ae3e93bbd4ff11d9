// Recovery with unmodified pusher-js in headless Chromium and sockwave's add-on, over
// WebSocket and over pusher-js's xhr_streaming fallback: a 10 s network drop while 50 events
// are published, then every one of them arrives, in order, exactly once (lib/recovery.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app, startServer } from '../lib/server.js';
import { makeSdk } from '../lib/clients.js';
import { startPageServer } from '../lib/page.js';
import { startCuttableRelay } from '../lib/cut.js';
import {
  APP, MISSED, browserFor, dropWhilePublishing, publish, pusherPage, range, waitReceived,
} from '../lib/recovery.js';

for (const transport of ['ws', 'xhr_streaming']) test(`pusher-js (${transport}) with the add-on gets all 50 events missed during a 10 s drop, in order, once`, async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const srv = await startServer({ apps: [APP] });
  t.after(() => srv.stop());
  const relay = await startCuttableRelay(t, srv.port);
  const pages = await startPageServer(t, srv.port, { appCfg: APP, recovery: true });
  const page = await pusherPage(browser, pages, relay.port, { recovery: true, channel: 'private-dashboard-stats', transports: [transport] });
  assert.equal(await page.evaluate(() => window.pusher.connection.connection.transport.name), transport);
  const sdk = makeSdk(srv.port, APP);
  await publish(sdk, 'private-dashboard-stats', 0, 3);
  await waitReceived(page, 3);
  await dropWhilePublishing(page, relay, sdk, 'private-dashboard-stats', 3);
  await publish(sdk, 'private-dashboard-stats', 53, 2);
  const received = await waitReceived(page, 55);
  assert.deepEqual(received, range(0, 55), 'every event once, in order, the missed ones before the live ones');
  const state = await page.evaluate(() => ({ gaps: window.gaps, resumes: window.resumes, everything: window.everything }));
  assert.deepEqual(state.gaps, []);
  assert.ok(state.resumes.some((r) => r.replayed >= MISSED), JSON.stringify(state.resumes));
  const seen = state.everything.filter((e) => e !== 'pusher:subscription_succeeded');
  assert.ok(seen.length === 55 && seen.every((e) => e === 'stats.updated'), `the app saw only its events: ${seen}`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await page.evaluate(() => window.received.length)), 55, 'nothing arrived twice later');
});
