/**
 * A simulated WAN link for benchmarks: a TCP proxy on 127.0.0.1 that gives each direction a rate
 * limit (bytes leave one after the other at the link's rate, as a token bucket with a one-segment
 * burst does) and a one-way delay (half the round trip), in order. This kernel has no `netem`, so
 * added delay has to come from user space. Memory is bounded: a direction that has more than
 * `maxQueuedBytes` waiting stops reading from its source until the queue drains.
 */
import net from 'node:net';

export interface LinkProfile {
  readonly name: string;
  /** Bits per second, each direction. */
  readonly bitsPerSecond: number;
  /** Round-trip time the link adds. */
  readonly rttMs: number;
}

export const LINK_PROFILES: readonly LinkProfile[] = [
  { name: '1 Gbit/s, 2 ms RTT', bitsPerSecond: 1e9, rttMs: 2 },
  { name: '100 Mbit/s, 20 ms RTT', bitsPerSecond: 100e6, rttMs: 20 },
  { name: '20 Mbit/s, 80 ms RTT', bitsPerSecond: 20e6, rttMs: 80 },
];

export interface LinkProxy {
  readonly port: number;
  readonly profile: LinkProfile;
  /** Closes the listener and every relayed connection. */
  close(): Promise<void>;
}

/** Bytes sent through as one unit: what a link's segments are, roughly (keeps the pacing smooth). */
const SLICE = 16 * 1024;

/** Starts a proxy to `host:port` with `profile`'s rate and delay. */
export async function startLinkProxy(
  host: string,
  port: number,
  profile: LinkProfile,
  maxQueuedBytes = 4 * 1024 * 1024,
): Promise<LinkProxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (client) => {
    const upstream = net.connect({ host, port, noDelay: true });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    }
    relay(client, upstream, profile, maxQueuedBytes);
    relay(upstream, client, profile, maxQueuedBytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('the link proxy has no TCP address');
  }
  return {
    port: address.port,
    profile,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface Queued {
  readonly bytes: Buffer | null;
  /** When the last bit of it has left the sender (rate), plus the one-way delay. */
  readonly arrivesAt: number;
}

/** One direction of the link: `from` → `to`, paced and delayed. */
function relay(from: net.Socket, to: net.Socket, profile: LinkProfile, maxQueued: number): void {
  const oneWayMs = profile.rttMs / 2;
  const msPerByte = 8000 / profile.bitsPerSecond;
  const queue: Queued[] = [];
  let queuedBytes = 0;
  let lineFreeAt = 0;
  let timer: NodeJS.Timeout | undefined;

  const deliver = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && queue[0]!.arrivesAt <= now) {
      const item = queue.shift()!;
      if (item.bytes === null) {
        to.end();
        return;
      }
      queuedBytes -= item.bytes.length;
      to.write(item.bytes);
    }
    if (queuedBytes <= maxQueued / 2 && from.isPaused()) from.resume();
    schedule();
  };
  const schedule = (): void => {
    if (timer !== undefined || queue.length === 0) return;
    timer = setTimeout(deliver, Math.max(0, queue[0]!.arrivesAt - performance.now()));
  };
  const enqueue = (bytes: Buffer | null): void => {
    const now = performance.now();
    const start = Math.max(now, lineFreeAt);
    lineFreeAt = start + (bytes?.length ?? 0) * msPerByte;
    queue.push({ bytes, arrivesAt: lineFreeAt + oneWayMs });
    schedule();
  };

  from.on('data', (chunk: Buffer) => {
    for (let offset = 0; offset < chunk.length; offset += SLICE) {
      const slice = chunk.subarray(offset, offset + SLICE);
      queuedBytes += slice.length;
      enqueue(slice);
    }
    if (queuedBytes > maxQueued) from.pause();
  });
  from.on('end', () => enqueue(null));
  from.on('error', () => to.destroy());
  from.on('close', () => {
    // A clean end lets what is queued arrive; a reset drops it, as a broken link does.
    if (from.readableEnded) return;
    if (timer !== undefined) clearTimeout(timer);
    to.destroy();
  });
}
