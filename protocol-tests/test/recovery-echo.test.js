// Recovery with Laravel Echo and sockwave's add-on in headless Chromium: the 10 s drop with
// 50 events, then a drop the history cannot cover (the page is told: onGap and
// `sockwave:resume_failed`); and a page without the add-on, which behaves as on any Pusher
// server (missed events stay missed, nothing extra shows up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { app, startServer } from '../lib/server.js';
import { makeSdk } from '../lib/clients.js';
import { startPageServer } from '../lib/page.js';
import { startCuttableRelay } from '../lib/cut.js';
import {
  APP, browserFor, dropWhilePublishing, publish, pusherOptions, pusherPage, range, waitReceived,
} from '../lib/recovery.js';

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
