// A TCP proxy a test can cut: what a dependency that goes away looks like to the code under test
// (its connections reset, new ones refused), without killing the server other tests use.
import net from 'node:net';
import { createPrismaClient, type PrismaClient } from '../../lib/prisma.js';

export interface TcpProxy {
  port: number;
  /** Refuses new connections and resets the open ones. */
  cut(): Promise<void>;
  /** Accepts connections again, on the same port. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const stop = async () => {
    for (const socket of sockets) socket.resetAndDestroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, cut: stop, restore: () => listen(port), close: () => (server.listening ? stop() : Promise.resolve()) };
}

/** A Prisma client for `databaseUrl` that connects through a proxy of its own, which the test can cut. */
export async function prismaThroughProxy(databaseUrl: string): Promise<{ proxy: TcpProxy; prisma: PrismaClient }> {
  const url = new URL(databaseUrl);
  const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return { proxy, prisma: createPrismaClient(url.toString()) };
}
