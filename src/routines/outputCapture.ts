import { format } from 'node:util';
import type { LogStream } from './jobExecutor.js';

type Listener = (chunk: string, stream: LogStream) => void;

const listeners = new Set<Listener>();
let restore: (() => void) | undefined;
/** Set while a patched console method runs, so its write to the stream is not seen twice. */
let insideConsole = false;

type ConsoleMethod = 'log' | 'info' | 'debug' | 'warn' | 'error';

const CONSOLE_STREAMS: Readonly<Record<ConsoleMethod, LogStream>> = {
  log: 'stdout',
  info: 'stdout',
  debug: 'stdout',
  warn: 'stderr',
  error: 'stderr',
};

/**
 * Tees this process's output to `listener` until the returned function is called: writes to
 * process.stdout/stderr and the console methods (test runners such as vitest replace the global
 * console with one that does not write to process.stdout). Output still reaches the terminal;
 * several captures may be active at once and each sees all output.
 */
export function captureOutput(listener: Listener): () => void {
  listeners.add(listener);
  restore ??= patchOutput();
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && restore !== undefined) {
      restore();
      restore = undefined;
    }
  };
}

function emit(text: string, stream: LogStream): void {
  for (const listener of listeners) listener(text, stream);
}

function patchOutput(): () => void {
  const restoreStreams = (['stdout', 'stderr'] as const).map(patchStream);
  const restoreConsole = (Object.keys(CONSOLE_STREAMS) as ConsoleMethod[]).map((method) =>
    patchConsole(method, CONSOLE_STREAMS[method]),
  );
  return () => {
    for (const undo of [...restoreStreams, ...restoreConsole]) undo();
  };
}

function patchStream(stream: LogStream): () => void {
  const target = process[stream];
  const original = target.write;
  // write() has several overloads; the arguments are forwarded untouched.
  target.write = function (this: NodeJS.WriteStream, ...args: unknown[]): boolean {
    if (!insideConsole) {
      const [chunk, encoding] = args;
      emit(
        typeof chunk === 'string'
          ? chunk
          : Buffer.from(chunk as Uint8Array).toString(
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            ),
        stream,
      );
    }
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof target.write;
  return () => {
    target.write = original;
  };
}

function patchConsole(
  method: 'log' | 'info' | 'debug' | 'warn' | 'error',
  stream: LogStream,
): () => void {
  const original = console[method];
  console[method] = (...args: unknown[]): void => {
    emit(`${format(...args)}\n`, stream);
    insideConsole = true;
    try {
      original.apply(console, args);
    } finally {
      insideConsole = false;
    }
  };
  return () => {
    console[method] = original;
  };
}
