// The live event console in a real browser: headless Chromium (Debian's package, driven by
// playwright-core) opens /console on a sockwave started with [console] enabled, logs in, and
// the real clients (pusher-js, the pusher Node SDK) make the events the page must show.
// Assertions read the DOM (rows carry data-kind and data-* attributes); every wait is bounded.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_APP, REPO_ROOT, app } from '../lib/server.js';
import { makePusher, makeSdk, pusherSubscribe, sdkError, waitForState, once, withTimeout } from '../lib/clients.js';
import { startReceiver } from '../lib/webhooks.js';
import { browserUnavailable, launchBrowser, startConsoleServer } from '../lib/browser.js';

const TOKEN = 'admin-secret-token';
const PUSHER_JS_VERSION = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'protocol-tests', 'node_modules', 'pusher-js', 'package.json'), 'utf8')).version;
const WAIT = 8000;
const VIEWPORT = { width: 1280, height: 800 };
const unavailable = browserUnavailable();
const required = process.env.SOCKWAVE_TEST_REQUIRE_SERVICES === '1';
if (unavailable) console.log(required ? `${unavailable}; SOCKWAVE_TEST_REQUIRE_SERVICES=1 makes this a failure` : unavailable);

/** Screenshots go to docs/img with SOCKWAVE_TEST_SCREENSHOTS=1, else to a temp dir. */
const SHOT_DIR = process.env.SOCKWAVE_TEST_SCREENSHOTS === '1'
  ? path.join(REPO_ROOT, 'docs', 'img')
  : fs.mkdtempSync(path.join(os.tmpdir(), 'sockwave-console-shots-'));

/** A CSS selector for log rows of `kind` whose data-* attributes equal `attrs`. */
function rowSel(kind, attrs = {}) {
  const parts = Object.entries(attrs).map(([k, v]) => `[data-${k}=${JSON.stringify(String(v))}]`);
  return `#log > li[data-kind="${kind}"]${parts.join('')}`;
}

/** The data of the next `event` on a pusher-js channel (handlers get data and metadata). */
const nextData = (channel, event) => once(channel, event, WAIT).then((args) => args[0]);

/** Text of one field (`data-field`) of a row. */
async function fieldText(row, name) {
  return (await row.locator(`[data-field="${name}"] .v`).textContent())?.trim();
}

describe('console page in headless Chromium', { skip: unavailable && !required ? unavailable : false }, () => {
  let browser;
  before(async () => {
    if (unavailable) throw new Error(`${unavailable} (required: SOCKWAVE_TEST_REQUIRE_SERVICES=1)`);
    browser = await launchBrowser();
  });
  after(async () => { await browser?.close(); });

  /** A server (console on, admin token) and a page; both closed when the test ends. */
  async function setup(t, { apps, server = {}, consoleCfg = { enabled: true, token: TOKEN }, query = '', login = true, appId = DEFAULT_APP.id, token = TOKEN } = {}) {
    const srv = await startConsoleServer({ apps, server, consoleCfg });
    t.after(() => srv.stop());
    const context = await browser.newContext({ viewport: VIEWPORT });
    t.after(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const pageErrors = [];
    const requests = [];
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(srv.url(`/console${query}`));
    if (login) await signIn(page, appId, token);
    return { srv, page, pageErrors, requests, sdk: makeSdk(srv.port) };
  }

  async function signIn(page, appId, token) {
    await page.fill('#app-id', appId);
    await page.fill('#token', token);
    await page.click('#connect');
    // The first stats line arrives as soon as the stream is open: from then on nothing is missed.
    await page.waitForSelector('#stats[data-ready="true"]');
  }

  test('GET /console serves the page from the binary; it loads nothing from anywhere else', async (t) => {
    const { srv, page, pageErrors, requests } = await setup(t, { login: false });
    const res = await fetch(srv.url('/console'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const html = await res.text();
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=["']?(https?:)?\/\//i, 'no external script, style or image');
    assert.equal(await page.title(), 'sockwave console');
    await signIn(page, DEFAULT_APP.id, TOKEN);
    assert.equal(await page.textContent('#status'), `connected to ${DEFAULT_APP.id}`);
    const origin = srv.url('');
    assert.deepEqual(requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:')), []);
    // Every form control has a label a screen reader can announce.
    const unlabeled = await page.$$eval('input, textarea', (els) => els.filter((e) => !e.labels?.length).map((e) => e.id));
    assert.deepEqual(unlabeled, []);
    assert.deepEqual(pageErrors, []);
  });

  test('the console is 404 (JSON) when it is not enabled', async (t) => {
    for (const consoleCfg of [null, { enabled: false, token: TOKEN }]) {
      const srv = await startConsoleServer({ consoleCfg });
      t.after(() => srv.stop());
      for (const p of ['/console', `/console/stream?app_id=${DEFAULT_APP.id}&token=${TOKEN}`]) {
        const res = await fetch(srv.url(p));
        assert.equal(res.status, 404, `${p} with ${JSON.stringify(consoleCfg)}`);
        const body = await res.json();
        assert.equal(typeof body.error, 'string');
      }
      const res = await fetch(srv.url('/console/publish'), {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ app_id: DEFAULT_APP.id, channel: 'c', event: 'e', data: '{}' }),
      });
      assert.equal(res.status, 404);
    }
  });

  test('a wrong token and an unknown app are shown as errors; the token or the app secret connects', async (t) => {
    const other = app({ id: 'other-app', key: 'other-key', secret: 'other-secret' });
    const { page, pageErrors } = await setup(t, { apps: [DEFAULT_APP, other], login: false });

    await page.fill('#app-id', DEFAULT_APP.id);
    await page.fill('#token', 'not-the-token');
    await page.click('#connect');
    await page.waitForSelector('#status[data-state="error"]');
    const wrong = await page.textContent('#login-error');
    assert.match(wrong, /^401 Unauthorized: wrong token/);
    assert.equal(await page.isVisible('#login-error'), true);
    assert.equal(await page.isVisible('#connect'), true, 'the form is usable again');

    await page.fill('#app-id', 'no-such-app');
    await page.fill('#token', TOKEN);
    await page.click('#connect');
    await page.waitForSelector('#login-error:has-text("404")');
    assert.match(await page.textContent('#login-error'), /no-such-app/);

    // One app's secret opens that app only.
    await page.fill('#app-id', DEFAULT_APP.id);
    await page.fill('#token', other.secret);
    await page.click('#connect');
    await page.waitForSelector('#login-error:has-text("401")');

    await signIn(page, other.id, other.secret);
    assert.equal(await page.isHidden('#login-error'), true, 'the error is cleared');
    assert.equal(await page.textContent('#status'), `connected to ${other.id}`);
    // The login is kept for this tab: a reload connects again by itself.
    await page.reload();
    await page.waitForSelector('#stats[data-ready="true"]');
    assert.equal(await page.inputValue('#app-id'), other.id);
    await page.click('#disconnect');
    await page.waitForSelector('#status[data-state="disconnected"]');
    assert.deepEqual(pageErrors, []);
  });

  test('pusher-js shows connection_opened (client and version), subscribed and connection_closed rows', async (t) => {
    const { srv, page, pageErrors } = await setup(t);
    const client = makePusher(srv.port, { t });
    await waitForState(client, 'connected');
    const socketId = client.connection.socket_id;
    await pusherSubscribe(client, 'orders');

    const opened = page.locator(rowSel('connection_opened', { 'socket-id': socketId }));
    await opened.waitFor();
    assert.equal(await fieldText(opened, 'socket_id'), socketId);
    assert.equal(await fieldText(opened, 'client'), `js ${PUSHER_JS_VERSION}`);
    assert.equal(await fieldText(opened, 'origin'), 'none', 'pusher-js in Node sends no Origin');

    const subscribed = page.locator(rowSel('subscribed', { 'socket-id': socketId, channel: 'orders' }));
    await subscribed.waitFor();
    assert.equal(await fieldText(subscribed, 'channel'), 'orders');
    // Newest first: the subscription is above the connection.
    assert.deepEqual(await page.$$eval('#log > li', (rows) => rows.map((r) => r.dataset.kind)), ['subscribed', 'connection_opened']);

    await page.waitForSelector('#stat-connections:text-is("1")');
    await page.waitForSelector('#stat-channels:text-is("1")');

    client.disconnect();
    const closed = page.locator(rowSel('connection_closed', { 'socket-id': socketId }));
    await closed.waitFor();
    assert.ok((await fieldText(closed, 'reason')).length > 0);
    await page.waitForSelector('#stat-connections:text-is("0")');
    assert.deepEqual(pageErrors, []);
  });

  test('an SDK publish shows a publish row with channel, event, size and reached count', async (t) => {
    const { srv, page, sdk, pageErrors } = await setup(t);
    const client = makePusher(srv.port, { t });
    const { channel } = await pusherSubscribe(client, 'orders');
    const got = nextData(channel, 'order.shipped');
    const data = { id: 42, carrier: 'DHL' };
    await sdk.trigger('orders', 'order.shipped', data);
    assert.deepEqual(await got, data);

    const row = page.locator(rowSel('publish', { event: 'order.shipped' }));
    await row.waitFor();
    const size = Buffer.byteLength(JSON.stringify(data));
    assert.equal(await row.getAttribute('data-channel'), 'orders');
    assert.equal(await row.getAttribute('data-size'), String(size));
    assert.equal(await row.getAttribute('data-reached'), '1');
    assert.equal(await fieldText(row, 'channels'), 'orders');
    assert.equal(await fieldText(row, 'event'), 'order.shipped');
    assert.equal(await fieldText(row, 'size'), `${size} B`);
    assert.equal(await fieldText(row, 'reached'), '1 on this node');
    assert.equal(await fieldText(row, 'cluster_subscribers'), '1 in cluster');
    assert.equal(await row.locator('.hint').count(), 0, 'no hint when somebody heard it');

    // A publish nobody hears says so.
    await sdk.trigger(['nobody-1', 'nobody-2'], 'lost', 'x');
    const lost = page.locator(rowSel('publish', { event: 'lost' }));
    await lost.waitFor();
    assert.equal(await lost.getAttribute('data-channel'), 'nobody-1,nobody-2');
    assert.equal(await fieldText(lost, 'reached'), '0 on this node');
    assert.match(await lost.locator('.hint').textContent(), /Nobody is subscribed/);

    // The raw event is one click away.
    await row.locator('.raw-toggle').click();
    const raw = JSON.parse(await row.locator('.raw').textContent());
    assert.equal(raw.kind, 'publish');
    assert.deepEqual(raw.channels, ['orders']);
    assert.deepEqual(pageErrors, []);
  });

  test('a failed private-channel auth shows a subscription_failed row with the exact reason', async (t) => {
    const { srv, page, pageErrors } = await setup(t);
    const client = makePusher(srv.port, { t, auth: { secret: 'wrong-secret' } });
    await waitForState(client, 'connected');
    const socketId = client.connection.socket_id;
    const channel = client.subscribe('private-invoices');
    const refused = await withTimeout(new Promise((resolve) => channel.bind('pusher:subscription_error', resolve)), WAIT, 'subscription_error');
    const told = refused.error ?? refused.message ?? refused;

    const row = page.locator(rowSel('subscription_failed', { 'socket-id': socketId, channel: 'private-invoices' }));
    await row.waitFor();
    const reason = await fieldText(row, 'reason');
    assert.match(reason, /signature/);
    assert.match(reason, new RegExp(`${socketId.replace('.', '\\.')}:private-invoices`), 'names the string that had to be signed');
    assert.equal(reason, told, 'the row shows exactly what the client was told');
    assert.equal(await row.evaluate((r) => r.classList.contains('bad')), true);
    assert.deepEqual(pageErrors, []);
  });

  test('an SDK with the wrong secret shows a publish_rejected row with status 401', async (t) => {
    const { srv, page, pageErrors } = await setup(t);
    const bad = makeSdk(srv.port, { ...DEFAULT_APP, secret: 'wrong-secret' });
    const err = await sdkError(bad.trigger('orders', 'order.shipped', { id: 1 }));
    assert.equal(err.status, 401);

    const row = page.locator(rowSel('publish_rejected', { status: 401 }));
    await row.waitFor();
    assert.equal(await fieldText(row, 'status'), '401');
    assert.equal(await fieldText(row, 'path'), `/apps/${DEFAULT_APP.id}/events`);
    assert.match(await fieldText(row, 'reason'), /signature/);
    assert.match(await row.locator('.hint').textContent(), /key or secret/);
    assert.deepEqual(pageErrors, []);
  });

  test('the event creator publishes to a pusher-js subscriber and shows the result', async (t) => {
    const { srv, page, pageErrors } = await setup(t);
    const client = makePusher(srv.port, { t });
    const { channel } = await pusherSubscribe(client, 'chat');
    const got = nextData(channel, 'greeting');

    await page.fill('#pub-channel', 'chat');
    await page.fill('#pub-event', 'greeting');
    await page.fill('#pub-data', '{"text": "hello from the console"}');
    await page.click('#publish');
    await page.waitForSelector('#publish-result[data-outcome="ok"]');
    assert.equal(await page.textContent('#publish-result'), 'Published "greeting" to chat: reached 1 socket.');
    assert.deepEqual(await got, { text: 'hello from the console' });
    const row = page.locator(rowSel('publish', { event: 'greeting', channel: 'chat' }));
    await row.waitFor();
    assert.equal(await row.getAttribute('data-reached'), '1');

    // Not JSON: a note, and it is still sent as a plain string.
    const plain = nextData(channel, 'note');
    await page.fill('#pub-event', 'note');
    await page.fill('#pub-data', 'just text');
    assert.match(await page.textContent('#publish-note'), /Not valid JSON/);
    await page.click('#publish');
    await page.waitForSelector('#publish-result:has-text("note")');
    assert.equal(await plain, 'just text');

    // A refused publish shows the server's error.
    await page.fill('#pub-channel', 'not a valid channel!');
    await page.click('#publish');
    await page.waitForSelector('#publish-result[data-outcome="error"]');
    assert.match(await page.textContent('#publish-result'), /^Not published: 400 /);
    assert.deepEqual(pageErrors, []);
  });

  test('filters by channel, event name, socket id and kind hide and show rows', async (t) => {
    const { srv, page, sdk, pageErrors } = await setup(t);
    const client = makePusher(srv.port, { t });
    await pusherSubscribe(client, 'alpha');
    const socketId = client.connection.socket_id;
    await sdk.trigger('alpha', 'e-one', {});
    await sdk.trigger('beta', 'e-two', {});
    await page.locator(rowSel('publish', { event: 'e-two' })).waitFor();
    const all = rowSel('publish', { event: 'e-one' });
    const visibleKinds = () => page.$$eval('#log > li:not([hidden])', (rows) => rows.map((r) => `${r.dataset.kind}:${r.dataset.channel ?? ''}`));
    assert.deepEqual(await visibleKinds(), ['publish:beta', 'publish:alpha', 'subscribed:alpha', 'connection_opened:']);

    await page.fill('#filter-channel', 'ALPH');
    assert.deepEqual(await visibleKinds(), ['publish:alpha', 'subscribed:alpha']);
    assert.match(await page.textContent('#log-count'), /^showing 2 of 4 events$/);
    // A new row is filtered as it arrives.
    await sdk.trigger('beta', 'e-three', {});
    await page.locator(rowSel('publish', { event: 'e-three' })).waitFor({ state: 'attached' });
    assert.equal(await page.isHidden(rowSel('publish', { event: 'e-three' })), true);
    await page.fill('#filter-channel', '');

    await page.fill('#filter-event', 'one');
    assert.deepEqual(await visibleKinds(), ['publish:alpha']);
    await page.fill('#filter-event', '');

    await page.fill('#filter-socket', socketId);
    assert.deepEqual(await visibleKinds(), ['subscribed:alpha', 'connection_opened:']);
    await page.fill('#filter-socket', '');

    await page.uncheck('#kind-publish');
    assert.deepEqual(await visibleKinds(), ['subscribed:alpha', 'connection_opened:']);
    await page.check('#filter-problems');
    assert.deepEqual(await visibleKinds(), [], 'the publish nobody heard is a problem, but publishes are unchecked');
    assert.equal(await page.textContent('#empty'), 'No event matches the filters.');
    await page.check('#kind-publish');
    assert.deepEqual(await visibleKinds(), ['publish:beta', 'publish:beta']);
    await page.uncheck('#filter-problems');
    await page.click('#kinds-none');
    assert.deepEqual(await visibleKinds(), []);
    await page.click('#kinds-all');
    assert.equal(await page.isVisible(all), true);
    assert.equal((await visibleKinds()).length, 5);
    assert.deepEqual(pageErrors, []);
  });

  test('pause buffers new events without showing them; resume shows them, newest first', async (t) => {
    const { page, sdk, pageErrors } = await setup(t);
    await sdk.trigger('ticker', 'before', {});
    await page.locator(rowSel('publish', { event: 'before' })).waitFor();

    await page.click('#pause');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
    for (const name of ['p-1', 'p-2', 'p-3']) await sdk.trigger('ticker', name, {});
    // The buffer count proves the three events reached the page while paused...
    await page.waitForSelector('#paused-banner[data-pending="3"]');
    assert.equal(await page.textContent('#pause'), 'Resume (3 new)');
    // ...and none of them is in the list.
    assert.equal(await page.locator('#log > li[data-event^="p-"]').count(), 0);
    await page.waitForSelector('#stats[data-ready="true"]');

    await page.click('#pause');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'false');
    await page.locator(rowSel('publish', { event: 'p-3' })).waitFor();
    const events = await page.$$eval('#log > li', (rows) => rows.map((r) => r.dataset.event));
    assert.deepEqual(events, ['p-3', 'p-2', 'p-1', 'before']);
    assert.equal(await page.isHidden('#paused-banner'), true);
    assert.deepEqual(pageErrors, []);
  });

  test('the list keeps the newest rows and counts the rest as not shown', async (t) => {
    const { page, sdk, pageErrors } = await setup(t, { query: '?max_rows=10' });
    assert.equal(await page.textContent('#stat-not-shown'), '0');
    const batch = (from, n) => Array.from({ length: n }, (_, i) => ({ channel: 'bulk', name: `n-${from + i}`, data: '{}' }));
    await sdk.triggerBatch(batch(0, 10));
    await sdk.triggerBatch(batch(10, 5));
    await page.waitForSelector('#stat-not-shown:text-is("5")');
    assert.equal(await page.locator('#log > li').count(), 10);
    assert.equal(await page.getAttribute('#log > li:first-child', 'data-event'), 'n-14');
    assert.equal(await page.getAttribute('#log > li:last-child', 'data-event'), 'n-5');
    assert.match(await page.textContent('#not-shown'), /^5 events not shown$/);
    assert.equal(await page.getAttribute('#not-shown-box', 'data-client'), '5');
    assert.deepEqual(pageErrors, []);
  });

  test('every kind of row renders in a busy console (saves the documentation screenshots)', async (t) => {
    const rx = await startReceiver();
    t.after(() => rx.close());
    const shop = app({ enable_client_messages: true, webhooks: [{ url: rx.url(), event_types: ['channel_occupied', 'channel_vacated'] }] });
    const { srv, page, sdk, pageErrors } = await setup(t, { apps: [shop], server: { webhook_batch_window_ms: 20 } });
    const waitRow = (kind, attrs) => page.locator(rowSel(kind, attrs)).first().waitFor();

    const buyer = makePusher(srv.port, { t, auth: { user: { user_id: 'u-7', user_info: { name: 'Ann' } } } });
    await pusherSubscribe(buyer, 'orders');
    const { channel: room } = await pusherSubscribe(buyer, 'presence-support.7');
    await pusherSubscribe(buyer, 'private-orders.42');
    const agent = makePusher(srv.port, { t, auth: { user: { user_id: 'agent-1', user_info: { name: 'Bo' } } } });
    await pusherSubscribe(agent, 'presence-support.7');
    room.trigger('client-typing', { typing: true });
    await waitRow('client_event', { event: 'client-typing' });
    // A whisper on a public channel: refused, and shown with the reason.
    buyer.send_event('client-typing', { typing: true }, 'orders');
    await waitRow('client_event_refused', { event: 'client-typing' });
    assert.match(await fieldText(page.locator(rowSel('client_event_refused')).first(), 'reason'), /not a private or presence channel/);

    await sdk.trigger('orders', 'order.shipped', { id: 42, carrier: 'DHL', eta: '2026-11-25' });
    await sdk.trigger('private-orders.42', 'App\\Events\\OrderPaid', { id: 42, total: 129.9 });
    // The classic missing-prefix mistake: published to "orders.42", the page listens on
    // "private-orders.42" — a publish nobody hears, and a warning naming the near miss.
    await sdk.trigger('orders.42', 'OrderPaid', { id: 42 });
    await waitRow('warning');

    const wrongSecret = makePusher(srv.port, { t, auth: { secret: 'old-secret' } });
    wrongSecret.subscribe('private-invoices');
    await waitRow('subscription_failed', { channel: 'private-invoices' });
    await sdkError(makeSdk(srv.port, { ...shop, secret: 'stale-secret' }).trigger('orders', 'order.cancelled', {}));
    await waitRow('publish_rejected', { status: 401 });

    await page.fill('#pub-channel', 'orders');
    await page.fill('#pub-event', 'order.shipped');
    await page.fill('#pub-data', '{"id": 43, "carrier": "UPS"}');
    await page.click('#publish');
    await page.waitForSelector('#publish-result[data-outcome="ok"]');
    await waitRow('webhook');
    const hook = page.locator(rowSel('webhook')).first();
    assert.equal(await fieldText(hook, 'status'), '200');
    assert.match(await fieldText(hook, 'events'), /channel_occupied/);
    wrongSecret.disconnect();
    await waitRow('connection_closed');
    await page.waitForSelector('#stat-connections:text-is("2")');

    const kinds = new Set(await page.$$eval('#log > li', (rows) => rows.map((r) => r.dataset.kind)));
    for (const kind of ['connection_opened', 'connection_closed', 'subscribed', 'subscription_failed', 'publish', 'publish_rejected', 'client_event', 'client_event_refused', 'webhook', 'warning']) {
      assert.ok(kinds.has(kind), `a ${kind} row`);
    }
    await page.screenshot({ path: path.join(SHOT_DIR, 'console.png') });

    // The failures at a glance: "Only problems", with the failed subscription's raw event open.
    await page.check('#filter-problems');
    await page.locator(rowSel('subscription_failed')).locator('.raw-toggle').click();
    assert.equal(await page.isVisible(rowSel('subscription_failed')), true);
    assert.equal(await page.isHidden(rowSel('subscribed')), true);
    await page.screenshot({ path: path.join(SHOT_DIR, 'console-failure.png') });
    // The screenshots are real PNGs of the requested size.
    for (const file of ['console.png', 'console-failure.png']) {
      const png = fs.readFileSync(path.join(SHOT_DIR, file));
      assert.equal(png.readUInt32BE(16), VIEWPORT.width);
      assert.equal(png.readUInt32BE(20), VIEWPORT.height);
    }
    assert.deepEqual(pageErrors, []);
  });
});
