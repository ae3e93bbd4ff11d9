// Recovery end to end: unmodified pusher-js and Laravel Echo in headless Chromium with
// sockwave's add-on (clients/js), a dashboard channel with history, and a network that
// drops for 10 s while 50 events are published (a relay between the browser and sockwave
// is cut and restored; pusher-js reconnects by itself, over WebSocket or its xhr_streaming
// fallback). The page must then have all 50, in
// order, exactly once — on one node, and when it comes back on another node of a 3-node
// Redis cluster. When the history no longer reaches back, the page is told (onGap and the
// `sockwave:resume_failed` event). A page without the add-on behaves as before: the missed
// events stay missed, live ones arrive, nothing extra shows up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app, startServer } from '../lib/server.js';
import { makeSdk } from '../lib/clients.js';
import { browserUnavailable, launchBrowser } from '../lib/browser.js';
import { startPageServer } from '../lib/page.js';
import { startCuttableRelay } from '../lib/cut.js';
import { clusterOptions, needSharedEngine, notRun, startCluster } from '../lib/cluster.js';

const APP = app({ history_channels: ['private-dashboard-*', 'dashboard-*'], history_max_events: 200 });
const CUT_MS = 10_000;
const MISSED = 50;

async function browserFor(t) {
  const missing = browserUnavailable();
  if (missing) return notRun(t, missing.replace(/^NOT RUN: /, ''));
  const browser = await launchBrowser();
  t.after(() => browser.close());
  return browser;
}

function pusherOptions(port, transports = ['ws']) {
  return {
    cluster: 'mt1', wsHost: '127.0.0.1', wsPort: port, httpHost: '127.0.0.1', httpPort: port,
    forceTLS: false, disableStats: true, enabledTransports: transports,
    channelAuthorization: { endpoint: '/auth?user=1', transport: 'ajax' },
  };
}

/** A page with pusher-js (and the add-on when `recovery`), recording `stats.updated`. */
async function pusherPage(browser, pages, port, { recovery, channel, transports }) {
  const page = await browser.newPage();
  await page.goto(pages.page('dashboard'));
  await page.evaluate(async ({ options, recovery, channel }) => {
    window.received = [];
    window.everything = [];
    window.gaps = [];
    window.resumes = [];
    const pusher = new Pusher('app-key', options);
    window.pusher = pusher;
    if (recovery) {
      window.recovery = SockwaveRecovery.enableRecovery(pusher, {
        onGap: (name, gap) => window.gaps.push({ name, ...gap }),
        onResumed: (name, info) => window.resumes.push({ name, ...info, at: performance.now() }),
      });
    }
    const subscribed = pusher.subscribe(channel);
    subscribed.bind('stats.updated', (data) => window.received.push(data.n));
    subscribed.bind_global((event, data) => window.everything.push(event));
    await new Promise((resolve, reject) => {
      subscribed.bind('pusher:subscription_succeeded', resolve);
      setTimeout(() => reject(new Error(`not subscribed: ${pusher.connection.state}`)), 15_000);
    });
  }, { options: pusherOptions(port, transports), recovery, channel });
  return page;
}

/** Publishes `n` numbered events through the HTTP API (`from`, `from + 1`, …). */
async function publish(sdk, channel, from, n) {
  for (let i = from; i < from + n; i += 1) await sdk.trigger(channel, 'stats.updated', { n: i });
}

async function waitReceived(page, count, ms = 30_000) {
  await page.waitForFunction((count) => window.received.length >= count, count, { timeout: ms });
  return page.evaluate(() => window.received);
}

/** The drop: cut, publish the missed events over `CUT_MS`, restore, wait for pusher-js. */
async function dropWhilePublishing(page, relay, sdk, channel, from, { restoreTo } = {}) {
  relay.cut();
  await page.waitForFunction(() => window.pusher.connection.state !== 'connected', null, { timeout: 15_000 });
  const started = Date.now();
  for (let i = 0; i < MISSED; i += 1) {
    await publish(sdk, channel, from + i, 1);
    await new Promise((r) => setTimeout(r, CUT_MS / MISSED));
  }
  await new Promise((r) => setTimeout(r, Math.max(0, CUT_MS - (Date.now() - started))));
  relay.restore(restoreTo);
  await page.waitForFunction(() => window.pusher.connection.state === 'connected', null, { timeout: 60_000 });
}

const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);

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

test('Laravel Echo with the add-on: the same drop, and a gap it is told about', async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const small = app({ ...APP, history_max_events: 60 });
  const srv = await startServer({ apps: [small] });
  t.after(() => srv.stop());
  const relay = await startCuttableRelay(t, srv.port);
  const pages = await startPageServer(t, srv.port, { appCfg: small, recovery: true });
  const page = await browser.newPage();
  await page.goto(pages.page('echo'));
  await page.evaluate(async (options) => {
    window.received = [];
    window.gaps = [];
    const EchoClass = window.Echo.default ?? window.Echo;
    window.echo = new EchoClass({ broadcaster: 'pusher', key: 'app-key', ...options, authEndpoint: '/auth?user=1' });
    window.pusher = window.echo.connector.pusher;
    SockwaveRecovery.enableRecovery(window.echo);
    window.echo.private('dashboard-stats')
      .listen('.stats.updated', (e) => window.received.push(e.n))
      .listen('.sockwave:resume_failed', (gap) => window.gaps.push(gap));
    await new Promise((resolve) => window.echo.connector.pusher.channel('private-dashboard-stats')
      .bind('pusher:subscription_succeeded', resolve));
  }, pusherOptions(relay.port));
  const sdk = makeSdk(srv.port, small);
  await publish(sdk, 'private-dashboard-stats', 0, 1);
  await waitReceived(page, 1);
  // 50 missed events fit in a history of 60: all come back.
  await dropWhilePublishing(page, relay, sdk, 'private-dashboard-stats', 1);
  assert.deepEqual(await waitReceived(page, 51), range(0, 51));
  // 70 do not: the page is told to refetch, then gets live events.
  relay.cut();
  await page.waitForFunction(() => window.pusher.connection.state !== 'connected', null, { timeout: 15_000 });
  await publish(sdk, 'private-dashboard-stats', 51, 70);
  relay.restore();
  await page.waitForFunction(() => window.gaps.length === 1, null, { timeout: 60_000 });
  const gaps = await page.evaluate(() => window.gaps);
  assert.equal(gaps[0].reason, 'too_old');
  assert.match(gaps[0].message, /refetch/);
  assert.deepEqual(await page.evaluate(() => window.received), range(0, 51), 'no partial replay');
  await publish(sdk, 'private-dashboard-stats', 121, 1);
  assert.deepEqual(await waitReceived(page, 52), [...range(0, 51), 121]);
});

test('a page without the add-on behaves as before: missed events stay missed', async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  const srv = await startServer({ apps: [APP] });
  t.after(() => srv.stop());
  const relay = await startCuttableRelay(t, srv.port);
  const pages = await startPageServer(t, srv.port, { appCfg: APP, recovery: false });
  const page = await pusherPage(browser, pages, relay.port, { recovery: false, channel: 'dashboard-public' });
  const sdk = makeSdk(srv.port, APP);
  await publish(sdk, 'dashboard-public', 0, 2);
  await waitReceived(page, 2);
  relay.cut();
  await page.waitForFunction(() => window.pusher.connection.state !== 'connected', null, { timeout: 15_000 });
  await publish(sdk, 'dashboard-public', 2, 10);
  relay.restore();
  await page.waitForFunction(() => window.pusher.connection.state === 'connected', null, { timeout: 60_000 });
  await page.waitForFunction(() => window.pusher.channel('dashboard-public').subscribed, null, { timeout: 10_000 });
  await publish(sdk, 'dashboard-public', 12, 1);
  assert.deepEqual(await waitReceived(page, 3), [0, 1, 12]);
  assert.deepEqual(
    await page.evaluate(() => window.everything),
    ['pusher:subscription_succeeded', 'stats.updated', 'stats.updated', 'pusher:subscription_succeeded', 'stats.updated'],
    'exactly what pusher-js shows on any Pusher server',
  );
});

test('3-node Redis cluster: the page comes back on another node and has all 50', async (t) => {
  const browser = await browserFor(t);
  if (!browser) return;
  if (!(await needSharedEngine(t, 'redis'))) return;
  const nodes = await startCluster(t, 3, { cluster: clusterOptions('redis'), apps: [APP] });
  const [a, b, c] = nodes;
  const relay = await startCuttableRelay(t, a.port);
  const pages = await startPageServer(t, c.port, { appCfg: APP, recovery: true });
  const page = await pusherPage(browser, pages, relay.port, { recovery: true, channel: 'private-dashboard-stats' });
  const sdk = makeSdk(c.port, APP);
  await publish(sdk, 'private-dashboard-stats', 0, 3);
  await waitReceived(page, 3);
  await dropWhilePublishing(page, relay, sdk, 'private-dashboard-stats', 3, { restoreTo: b.port });
  await publish(makeSdk(a.port, APP), 'private-dashboard-stats', 53, 2);
  assert.deepEqual(await waitReceived(page, 55), range(0, 55));
  // The replay holds the 50 missed events, plus the 2 later ones when they were published
  // before the page's resume was read (they then come once, in the replay).
  const resumes = await page.evaluate(() => window.resumes);
  assert.ok(resumes.some((r) => r.replayed >= MISSED), JSON.stringify(resumes));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await page.evaluate(() => window.received.length)), 55);
});
