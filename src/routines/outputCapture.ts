import type { LogStream } from './jobExecutor.js';

type Listener = (chunk: string, stream: LogStream) => void;

const listeners = new Set<Listener>();
let restore: (() => void) | undefined;

/**
 * Tees this process's stdout and stderr to `listener` until the returned function is called.
 * Output still reaches the terminal; several captures may be active at once and each sees all output.
 */
export function captureOutput(listener: Listener): () => void {
  listeners.add(listener);
  restore ??= patchStreams();
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && restore !== undefined) {
      restore();
      restore = undefined;
    }
  };
}

function patchStreams(): () => void {
  const originals = { stdout: process.stdout.write, stderr: process.stderr.write };
  for (const stream of ['stdout', 'stderr'] as const) {
    const original = originals[stream];
    const target = process[stream];
    // write() has several overloads; forward the arguments untouched.
    target.write = function (this: NodeJS.WriteStream, ...args: unknown[]): boolean {
      const [chunk, encoding] = args;
      const text =
        typeof chunk === 'string'
          ? chunk
          : Buffer.from(chunk as Uint8Array).toString(
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            );
      for (const listener of listeners) listener(text, stream);
      return (original as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof target.write;
  }
  return () => {
    process.stdout.write = originals.stdout;
    process.stderr.write = originals.stderr;
  };
}
