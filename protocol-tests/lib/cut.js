// A TCP relay between clients and a server that a test can cut, like a network that drops:
// `cut()` destroys every relayed connection and refuses new ones (accepted, then reset) until
// `restore()`, which may point the relay at another server (a client that comes back on
// another node of a cluster). It also counts the bytes it carried each way, as a network
// would see them (`bytes()`).
import net from 'node:net';

export async function startCuttableRelay(t, targetPort) {
  let target = targetPort;
  let down = false;
  const open = new Set();
  const carried = { toServer: 0, toClient: 0 };
  const server = net.createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk) => { carried.toServer += chunk.length; });
    upstream.on('data', (chunk) => { carried.toClient += chunk.length; });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of open) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    port: server.address().port,
    /** Drops every connection (reset, as a dead network would) and refuses new ones. */
    cut() {
      down = true;
      for (const socket of open) socket.resetAndDestroy();
      open.clear();
    },
    /** Bytes carried so far: `{toServer, toClient}`. */
    bytes() {
      return { ...carried };
    },
    /** Lets connections through again, to `port` when given. */
    restore(port = target) {
      target = port;
      down = false;
    },
  };
}
