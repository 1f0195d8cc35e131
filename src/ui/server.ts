/**
 * `ferry ui`'s web server (node:http): the page, its assets, and the JSON API of `api.ts`. Every
 * request passes `checkRequest` (security.ts) first: Host, token, and for stop and remove the CSRF
 * token and Origin. Listings carry an ETag, so a refresh that finds nothing new costs a 304.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { pipeline } from 'node:stream/promises';
import { createReadStream } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { FerryError } from '../errors.js';
import type { UiApi } from './api.js';
import { loadAssets, type AssetName, type Assets } from './assets.js';
import { UiBadRequestError, UiListenError, UiNotFoundError } from './errors.js';
import { pageHtml } from './page.js';
import {
  allowedHostsFor,
  checkRequest,
  CSRF_HEADER,
  hostForUrl,
  isLoopback,
  newSecret,
  TOKEN_COOKIE,
  TOKEN_QUERY,
  type SecurityPolicy,
} from './security.js';

export interface UiServerOptions {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  /** Given for tests; by default a new one when the address is not loopback. */
  readonly token?: string;
}

export interface UiServer {
  /** The URL to open (with the token, when one is needed). */
  readonly url: string;
  readonly port: number;
  readonly policy: SecurityPolicy;
  close(): Promise<void>;
}

/** How often live runs are synced with their targets while someone looks. */
const SYNC_INTERVAL_MS = 2000;
/** How often the local targets are searched for runs the records lack. */
const DISCOVER_INTERVAL_MS = 30_000;
/** A listing bigger than this is sent gzipped to a client that takes it. */
const GZIP_FROM = 1024;

type Handler = (
  request: IncomingMessage,
  response: ServerResponse,
  match: RegExpExecArray,
  url: URL,
) => Promise<void>;

interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly changesState: boolean;
  readonly handler: Handler;
}

const ID = '([A-Za-z0-9][A-Za-z0-9_.-]{0,127})';

export async function startUiServer(api: UiApi, options: UiServerOptions): Promise<UiServer> {
  const assets = await loadAssets();
  const csrfToken = newSecret();
  const token = options.token ?? (isLoopback(options.host) ? undefined : newSecret());
  let policy: SecurityPolicy = { allowedHosts: new Set(), token, csrfToken };
  let lastSeen = 0;
  const routes = makeRoutes(
    api,
    assets,
    () => policy,
    () => (lastSeen = Date.now()),
  );

  const server: Server = createServer((request, response) => {
    void handle(request, response, routes, () => policy).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, error);
      else response.destroy();
      if (!(error instanceof FerryError)) {
        api.context.note(`ferry: ui: ${(error as Error).stack ?? String(error)}`);
      }
    });
  });
  server.listen(options.port, options.host);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => {
        throw error;
      }),
    ]);
  } catch (error) {
    throw new UiListenError(
      `ferry ui could not listen on ${hostForUrl(options.host)}:${options.port}: ${(error as Error).message}; choose another --port or --host`,
      { cause: error },
    );
  }
  const port = (server.address() as AddressInfo).port;
  policy = {
    ...policy,
    allowedHosts: allowedHostsFor(options.host, port, wildcardNames(options.host)),
  };
  const shown = options.host === '0.0.0.0' || options.host === '::' ? os.hostname() : options.host;
  const url = `http://${hostForUrl(shown)}:${port}/${token === undefined ? '' : `?${TOKEN_QUERY}=${token}`}`;

  // Runs that have not ended are synced with their targets while a page asked recently.
  const timer = setInterval(() => {
    if (Date.now() - lastSeen > 10_000) return;
    void api.sync(false).catch((error: unknown) => reportSyncError(api, error));
  }, SYNC_INTERVAL_MS);
  const discoverTimer = setInterval(() => {
    if (Date.now() - lastSeen > 60_000) return;
    void api.sync(true).catch((error: unknown) => reportSyncError(api, error));
  }, DISCOVER_INTERVAL_MS);
  timer.unref();
  discoverTimer.unref();
  void api.sync(true).catch((error: unknown) => reportSyncError(api, error));

  return {
    url,
    port,
    get policy() {
      return policy;
    },
    async close() {
      clearInterval(timer);
      clearInterval(discoverTimer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await api.close();
    },
  };
}

function reportSyncError(api: UiApi, error: unknown): void {
  api.context.note(
    error instanceof FerryError
      ? `ferry: ui: could not refresh the runs: ${error.message}`
      : `ferry: ui: ${(error as Error).stack ?? String(error)}`,
  );
}

/** The names a server on a wildcard address is reached by: this machine's addresses and name. */
function wildcardNames(host: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return [];
  const addresses = Object.values(os.networkInterfaces()).flatMap((list) =>
    (list ?? []).map((a) => a.address),
  );
  return [os.hostname(), 'localhost', ...addresses];
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  routes: readonly Route[],
  policy: () => SecurityPolicy,
): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://ferry.invalid');
  const route = routes.find((r) => r.pattern.test(url.pathname));
  const verdict = checkRequest(
    {
      method: request.method ?? 'GET',
      host: request.headers.host,
      origin: request.headers.origin,
      cookie: request.headers.cookie,
      authorization: request.headers.authorization,
      csrf: header(request, CSRF_HEADER),
      queryToken: url.searchParams.get(TOKEN_QUERY),
      changesState: route?.changesState ?? false,
    },
    policy(),
  );
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', 'no-cache');
  if (!verdict.ok) {
    sendJson(response, verdict.status, { error: verdict.reason });
    return;
  }
  if (verdict.setCookie) {
    // The token leaves the URL (and the history) for a cookie other sites' requests do not carry.
    response.setHeader(
      'Set-Cookie',
      `${TOKEN_COOKIE}=${policy().token}; HttpOnly; SameSite=Strict; Path=/`,
    );
    response.writeHead(303, { Location: url.pathname }).end();
    return;
  }
  if (route === undefined) throw new UiNotFoundError(`nothing at ${url.pathname}`);
  if (route.method !== request.method && !(route.method === 'GET' && request.method === 'HEAD')) {
    sendJson(response, 405, { error: `${request.method} is not allowed on ${url.pathname}` });
    return;
  }
  await route.handler(request, response, route.pattern.exec(url.pathname)!, url);
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function makeRoutes(
  api: UiApi,
  assets: Assets,
  policy: () => SecurityPolicy,
  seen: () => void,
): Route[] {
  const get = (pattern: RegExp, handler: Handler): Route => ({
    method: 'GET',
    pattern,
    changesState: false,
    handler,
  });
  const post = (pattern: RegExp, handler: Handler): Route => ({
    method: 'POST',
    pattern,
    changesState: true,
    handler,
  });
  /** The runs listing as last sent, serialized and gzipped once per ETag. */
  let listing: { etag: string; body: Buffer; gzip: Buffer } | undefined;
  return [
    get(/^\/(?:index\.html)?$/, async (request, response) => {
      const info = await api.project();
      sendBody(
        request,
        response,
        200,
        'text/html; charset=utf-8',
        Buffer.from(pageHtml(info.project, policy().csrfToken)),
        {
          'Content-Security-Policy':
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
          'X-Frame-Options': 'DENY',
        },
      );
    }),
    get(/^\/assets\/(app\.js|app\.css)$/, async (request, response, match) => {
      const asset = assets.get(match[1] as AssetName)!;
      if (request.headers['if-none-match'] === asset.etag) {
        response.writeHead(304, { ETag: asset.etag }).end();
        return;
      }
      const gzip = accepts(request, 'gzip');
      response.writeHead(200, {
        'Content-Type': asset.type,
        ETag: asset.etag,
        ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
        Vary: 'Accept-Encoding',
      });
      response.end(gzip ? asset.gzip : asset.body);
    }),
    get(/^\/favicon\.ico$/, async (_request, response) => {
      response.writeHead(204).end();
    }),
    get(/^\/api\/project$/, async (request, response) => {
      sendJsonTo(request, response, await api.project());
    }),
    get(/^\/api\/runs$/, async (request, response) => {
      seen();
      const snapshot = await api.runs();
      if (request.headers['if-none-match'] === snapshot.etag) {
        response.writeHead(304, { ETag: snapshot.etag }).end();
        return;
      }
      if (listing?.etag !== snapshot.etag) {
        const body = Buffer.from(JSON.stringify({ runs: snapshot.records }));
        listing = { etag: snapshot.etag, body, gzip: gzipSync(body) };
      }
      const gzip = accepts(request, 'gzip');
      response.writeHead(200, {
        'Content-Type': 'application/json',
        ETag: listing.etag,
        Vary: 'Accept-Encoding',
        ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
      });
      response.end(gzip ? listing.gzip : listing.body);
    }),
    get(new RegExp(`^/api/runs/${ID}$`), async (request, response, match) => {
      seen();
      const record = await api.run(match[1]!);
      const packageFile = await api.packageFile(record.id);
      sendJsonTo(request, response, { run: record, packageKept: packageFile !== undefined });
    }),
    get(new RegExp(`^/api/runs/${ID}/metrics$`), async (request, response, match) => {
      const metrics = await api.metrics(match[1]!);
      const body = JSON.stringify({ points: metrics.points, last: metrics.last });
      const etag = `"${metrics.points.length}-${body.length}"`;
      if (request.headers['if-none-match'] === etag) {
        response.writeHead(304, { ETag: etag }).end();
        return;
      }
      sendBody(request, response, 200, 'application/json', Buffer.from(body), { ETag: etag });
    }),
    get(new RegExp(`^/api/runs/${ID}/logs$`), async (request, response, match) => {
      await streamLogs(api, request, response, match[1]!);
    }),
    get(new RegExp(`^/api/runs/${ID}/result$`), async (request, response, match) => {
      sendJsonTo(request, response, await api.result(match[1]!));
    }),
    get(new RegExp(`^/api/runs/${ID}/outputs$`), async (request, response, match) => {
      sendJsonTo(request, response, { files: await api.outputFiles(match[1]!) });
    }),
    get(new RegExp(`^/api/runs/${ID}/outputs/file$`), async (_request, response, match, url) => {
      const file = await api.outputFile(match[1]!, url.searchParams.get('path') ?? '');
      response.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': file.size,
        'Content-Disposition': `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`,
      });
      await pipeline(file.stream, response);
    }),
    get(new RegExp(`^/api/runs/${ID}/package$`), async (_request, response, match) => {
      const file = await api.packageFile(match[1]!);
      if (file === undefined) {
        throw new UiNotFoundError(
          `the package of run ${match[1]} is not kept here; \`ferry get ${match[1]}\` fetches it from its target`,
        );
      }
      response.writeHead(200, {
        'Content-Type': 'application/gzip',
        'Content-Disposition': `attachment; filename="${file.split('/').at(-1)}"`,
      });
      await pipeline(createReadStream(file), response);
    }),
    post(new RegExp(`^/api/runs/${ID}/stop$`), async (request, response, match) => {
      sendJsonTo(request, response, { run: await api.stop(match[1]!) });
    }),
    post(new RegExp(`^/api/runs/${ID}/remove$`), async (request, response, match) => {
      const body = await readJsonBody(request);
      const outputs = body.outputs;
      if (outputs !== undefined && outputs !== 'keep' && outputs !== 'drop') {
        throw new UiBadRequestError(
          `outputs must be "keep" or "drop", got ${JSON.stringify(outputs)}`,
        );
      }
      sendJsonTo(request, response, { removed: await api.remove(match[1]!, outputs) });
    }),
    post(new RegExp(`^/api/sweeps/${ID}/stop$`), async (request, response, match) => {
      sendJsonTo(request, response, { runs: await api.stopSweep(match[1]!) });
    }),
  ];
}

/** Server-sent events: one `line` event per line ({ stream, line }), then `end`. */
async function streamLogs(
  api: UiApi,
  request: IncomingMessage,
  response: ServerResponse,
  id: string,
): Promise<void> {
  const abort = new AbortController();
  request.on('close', () => abort.abort());
  // Look the run up before the stream starts, so an unknown run is a plain 404.
  await api.run(id);
  response.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  response.write(': ferry logs\n\n');
  const write = (event: string, data: unknown): Promise<void> | undefined => {
    if (abort.signal.aborted) return undefined;
    const ok = response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    // Waiting for the socket to drain is the backpressure followLogs passes on to the engine.
    return ok ? undefined : once(response, 'drain').then(() => undefined);
  };
  try {
    await api.followLogs(id, (line, stream) => write('line', { stream, line }), abort.signal);
    await write('end', {});
  } catch (error) {
    if (!(error instanceof FerryError)) throw error;
    await write('failure', { error: error.message });
  }
  response.end();
}

async function readJsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new UiBadRequestError('the request body is over 64 kB');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UiBadRequestError(`the request body is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UiBadRequestError('the request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function accepts(request: IncomingMessage, encoding: string): boolean {
  const header = request.headers['accept-encoding'];
  return typeof header === 'string' && header.split(',').some((e) => e.trim().startsWith(encoding));
}

function sendBody(
  request: IncomingMessage,
  response: ServerResponse,
  status: number,
  type: string,
  body: Buffer,
  headers: Record<string, string> = {},
): void {
  const gzip = body.length >= GZIP_FROM && accepts(request, 'gzip');
  response.writeHead(status, {
    'Content-Type': type,
    Vary: 'Accept-Encoding',
    ...(gzip ? { 'Content-Encoding': 'gzip' } : {}),
    ...headers,
  });
  response.end(gzip ? gzipSync(body) : body);
}

function sendJsonTo(
  request: IncomingMessage,
  response: ServerResponse,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  sendBody(request, response, 200, 'application/json', Buffer.from(JSON.stringify(value)), headers);
}

function sendJson(response: ServerResponse, status: number, value: unknown): void {
  response.writeHead(status, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(value));
}

/** A Ferry error as the answer: 404 for what is not there, 400 for other input, 502 for targets. */
function sendError(response: ServerResponse, error: unknown): void {
  if (error instanceof FerryError) {
    const status =
      error instanceof UiNotFoundError || error.name === 'RunNotFoundError'
        ? 404
        : error.kind === 'usage'
          ? 400
          : error.kind === 'environment'
            ? 502
            : error.kind === 'job'
              ? 409
              : 500;
    sendJson(response, status, { error: error.message, kind: error.kind, name: error.name });
    return;
  }
  sendJson(response, 500, { error: 'internal error in ferry ui (its stack is on the terminal)' });
}
