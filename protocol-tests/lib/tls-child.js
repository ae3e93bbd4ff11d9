// Runs in a child process started by tls.js with NODE_EXTRA_CA_CERTS set to the test CA:
// pusher-js with forceTLS and the pusher SDK with useTLS, both trusting only what Node's
// default store plus that CA trust. Commands arrive on stdin, one per line; each gets one
// reply line on stdout:
//   (start)         -> READY <socket_id>        pusher-js connected over wss, subscribed to "news"
//                      (READY <socket_id> via <transport> with TRANSPORT set to an HTTP one)
//   publish <name>  -> GOT <name> <socket_id> <state changes>   SDK trigger over https, received
//   fresh           -> FRESH <socket_id>        a second pusher-js connects over wss
// Any failure replies ERROR <message>.
import readline from 'node:readline';
import PusherJs from 'pusher-js';
import PusherSdk from 'pusher';

const port = Number(process.env.TLS_PORT);
const app = JSON.parse(process.env.APP);
const states = [];

// `ws`, or one of pusher-js's HTTP fallback transports served on the same TLS port.
const transport = process.env.TRANSPORT || 'ws';

function client() {
  return new PusherJs(app.key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wssPort: port,
    httpHost: '127.0.0.1',
    httpsPort: port,
    forceTLS: true,
    enabledTransports: [transport],
    disableStats: true,
  });
}

function connected(pusher) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not connected: ${pusher.connection.state}`)), 8000);
    pusher.connection.bind('connected', () => { clearTimeout(timer); resolve(pusher.connection.socket_id); });
  });
}

const sdk = new PusherSdk({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port), useTLS: true });
const pusher = client();
pusher.connection.bind('state_change', ({ current }) => states.push(current));
const channel = pusher.subscribe('news');

async function publish(name) {
  const received = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`event ${name} not received`)), 8000);
    channel.bind(name, () => { clearTimeout(timer); resolve(); });
  });
  const res = await sdk.trigger('news', name, { sent: Date.now() });
  if (res.status !== 200) throw new Error(`trigger answered ${res.status}`);
  await received;
  return `GOT ${name} ${pusher.connection.socket_id} ${states.join(',')}`;
}

async function fresh() {
  const second = client();
  try {
    return `FRESH ${await connected(second)}`;
  } finally {
    second.disconnect();
  }
}

try {
  const socketId = await connected(pusher);
  await new Promise((resolve) => channel.bind('pusher:subscription_succeeded', resolve));
  // With an HTTP transport, the line says which one pusher-js ended up on.
  const via = transport === 'ws' ? '' : ` via ${pusher.connection.connection.transport.name}`;
  console.log(`READY ${socketId}${via}`);
} catch (err) {
  console.log(`ERROR ${err.message}`);
}

const input = readline.createInterface({ input: process.stdin });
input.on('line', async (line) => {
  const [command, arg] = line.trim().split(' ');
  try {
    if (command === 'publish') console.log(await publish(arg));
    else if (command === 'fresh') console.log(await fresh());
    else console.log(`ERROR unknown command ${command}`);
  } catch (err) {
    console.log(`ERROR ${err.message}`);
  }
});
input.on('close', () => { pusher.disconnect(); process.exit(0); });
