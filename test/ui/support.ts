/** Starting `ferry ui`'s server in-process over a project, and raw HTTP requests to it. */
import { request as httpRequest } from 'node:http';
import { PassThrough } from 'node:stream';
import { CliContext } from '../../src/cli/context.js';
import { UiApi } from '../../src/ui/api.js';
import { startUiServer, type UiServer, type UiServerOptions } from '../../src/ui/server.js';

export interface StartedUi {
  readonly server: UiServer;
  readonly context: CliContext;
  /** What the server wrote to stderr (notes, warnings). */
  readonly stderr: () => string;
  close(): Promise<void>;
}

export async function startUi(
  cwd: string,
  options: Partial<UiServerOptions> = {},
): Promise<StartedUi> {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const context = new CliContext(
    { stdout: new PassThrough(), stderr, cwd, env: process.env },
    { quiet: true },
    new AbortController().signal,
  );
  const server = await startUiServer(new UiApi(context), {
    host: '127.0.0.1',
    port: 0,
    ...options,
  });
  return {
    server,
    context,
    stderr: () => text,
    async close() {
      await server.close();
      await context.close();
    },
  };
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request with exactly these headers (fetch would not let a test set Host). */
export function rawRequest(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path: options.path ?? '/',
        headers: { Host: `127.0.0.1:${port}`, ...options.headers },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** The CSRF token the page embeds. */
export function csrfOf(html: string): string {
  const match = /<meta name="ferry-csrf" content="([^"]+)">/.exec(html);
  if (match === null) throw new Error('the page has no CSRF token');
  return match[1]!;
}
