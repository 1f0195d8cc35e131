/**
 * How a Ferry process ends (the container's entry point and the `ferry` command): only once what it
 * wrote to stdout and stderr has reached the operating system. Writes to a pipe are asynchronous in
 * Node on Linux: once the pipe is full (64 KiB) the rest waits in memory, and `process.exit()` drops
 * it, which is how a job's last lines and `Job completed` used to vanish from the container's logs.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface ExitOptions {
  /**
   * The longest to wait for the streams, for ends that must come quickly (a signal, where the
   * engine kills the process soon anyway, or a reader that stopped reading). Default: no limit.
   */
  readonly withinMs?: number;
  /** Default: `process.stdout` and `process.stderr`. */
  readonly streams?: readonly NodeJS.WritableStream[];
}

/**
 * Resolves once everything written to `stream` so far has been handed to the OS: a stream's writes
 * complete in order, so the callback of an empty write comes after all of them. A stream that was
 * destroyed (its reader went away: EPIPE) takes nothing more and resolves at once.
 */
export function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const writable = stream as NodeJS.WritableStream & { destroyed?: boolean };
    if (writable.destroyed === true || !stream.writable) {
      resolve();
      return;
    }
    // An error here (EPIPE) means the reader is gone: nothing more can be delivered, and there is no
    // stream left to report it on, so the exit goes ahead either way.
    stream.write('', () => resolve());
  });
}

/**
 * Sets `process.exitCode`, waits for stdout and stderr to drain (at most `withinMs`), then exits.
 * It exits explicitly rather than letting the event loop end, because a job (or an SSH keep-alive)
 * may leave timers and sockets open after its run is over.
 */
export async function exitWhenDrained(code: number, options: ExitOptions = {}): Promise<never> {
  process.exitCode = code;
  const streams = options.streams ?? [process.stdout, process.stderr];
  const all = Promise.all(streams.map(drained));
  if (options.withinMs === undefined) await all;
  else await Promise.race([all, delay(options.withinMs, undefined, { ref: false })]);
  process.exit(code);
}
