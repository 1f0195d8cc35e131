/**
 * The checks every request to `ferry ui` goes through, as pure functions of the request's headers
 * and the server's policy, so they are tested without a socket:
 *
 * - **Host** (DNS rebinding): a page on `evil.example` whose name was rebound to 127.0.0.1 reaches
 *   the server with `Host: evil.example`; only the names the server is reached by are accepted.
 * - **Token** (any address but loopback): a random secret printed once in the URL, then kept in an
 *   HttpOnly, SameSite=Strict cookie; compared in constant time.
 * - **CSRF** (state-changing requests): POST only, with the per-server CSRF token (embedded in the
 *   page, which another origin cannot read) in a header, and an `Origin`, when the browser sends
 *   one, that is the server's own.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export const TOKEN_COOKIE = 'ferry_ui_token';
export const TOKEN_QUERY = 'token';
export const CSRF_HEADER = 'x-ferry-csrf';

export interface SecurityPolicy {
  /** `host:port` values the Host header may hold (lower case). */
  readonly allowedHosts: ReadonlySet<string>;
  /** The access token; undefined when the server listens on loopback only and needs none. */
  readonly token: string | undefined;
  /** The per-server CSRF token state-changing requests carry in `x-ferry-csrf`. */
  readonly csrfToken: string;
}

/** What a request brings that the checks look at. */
export interface RequestFacts {
  readonly method: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  readonly cookie: string | undefined;
  readonly authorization: string | undefined;
  readonly csrf: string | undefined;
  /** The `token` query parameter (the URL printed once). */
  readonly queryToken: string | null;
  /** Whether the request changes state (stop, remove). */
  readonly changesState: boolean;
}

export type Verdict =
  | {
      readonly ok: true;
      /** The token came in the URL: set the cookie. */ readonly setCookie: boolean;
    }
  | { readonly ok: false; readonly status: 400 | 403 | 405; readonly reason: string };

/** A URL-safe random secret of 32 bytes. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two secrets in time that does not depend on where they differ (nor on their length). */
export function secretsEqual(given: string | null | undefined, expected: string): boolean {
  if (given === undefined || given === null) return false;
  // Hashing first gives equal-length inputs, so not even the length leaks through timing.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Whether an address to listen on is the loopback interface only. */
export function isLoopback(address: string): boolean {
  if (address === 'localhost') return true;
  if (isIP(address) === 4) return address.startsWith('127.');
  return address === '::1';
}

/** How a host appears in a URL and a Host header (IPv6 in brackets). */
export function hostForUrl(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/**
 * The Host header values a server listening on `address:port` answers to: that address, and for
 * loopback `localhost` and `127.0.0.1`; for a wildcard address, `extraNames` (the machine's own
 * addresses and name, which the caller lists).
 */
export function allowedHostsFor(
  address: string,
  port: number,
  extraNames: readonly string[] = [],
): Set<string> {
  const names = new Set<string>([address, ...extraNames]);
  if (isLoopback(address)) {
    names.add('localhost');
    names.add('127.0.0.1');
  }
  return new Set([...names].map((name) => `${hostForUrl(name)}:${port}`.toLowerCase()));
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Decides whether a request may go on. */
export function checkRequest(facts: RequestFacts, policy: SecurityPolicy): Verdict {
  const host = facts.host?.toLowerCase();
  if (host === undefined || !policy.allowedHosts.has(host)) {
    return {
      ok: false,
      status: 403,
      reason: `Host ${JSON.stringify(facts.host ?? '')} is not this server's; open it by the address ferry ui printed`,
    };
  }
  let setCookie = false;
  if (policy.token !== undefined) {
    const bearer = facts.authorization?.startsWith('Bearer ')
      ? facts.authorization.slice('Bearer '.length)
      : undefined;
    const fromCookie = cookieValue(facts.cookie, TOKEN_COOKIE);
    if (secretsEqual(fromCookie, policy.token) || secretsEqual(bearer, policy.token)) {
      // already authenticated
    } else if (
      facts.queryToken !== null &&
      !facts.changesState &&
      secretsEqual(facts.queryToken, policy.token)
    ) {
      setCookie = true;
    } else {
      return {
        ok: false,
        status: 403,
        reason: 'a token is needed: open the URL with ?token=… that ferry ui printed',
      };
    }
  }
  if (facts.changesState) {
    if (facts.method !== 'POST') {
      return { ok: false, status: 405, reason: 'state-changing requests must be POST' };
    }
    if (facts.origin !== undefined && !originMatches(facts.origin, policy.allowedHosts)) {
      return {
        ok: false,
        status: 403,
        reason: `Origin ${JSON.stringify(facts.origin)} is not this server's`,
      };
    }
    if (!secretsEqual(facts.csrf, policy.csrfToken)) {
      return { ok: false, status: 403, reason: `missing or wrong ${CSRF_HEADER} header` };
    }
  } else if (facts.method !== 'GET' && facts.method !== 'HEAD') {
    return { ok: false, status: 405, reason: `${facts.method} is not allowed here` };
  }
  return { ok: true, setCookie };
}

function originMatches(origin: string, allowedHosts: ReadonlySet<string>): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch (error) {
    if (error instanceof TypeError) return false;
    throw error;
  }
  if (url.protocol !== 'http:') return false;
  const port = url.port === '' ? '80' : url.port;
  return allowedHosts.has(`${url.hostname}:${port}`.toLowerCase());
}
