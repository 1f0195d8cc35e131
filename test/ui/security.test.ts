/**
 * The UI server's defences, over real HTTP against a server on a synthetic project (no engine is
 * needed: the runs are records): the Host check (DNS rebinding), the token of a server on another
 * address than loopback, and the CSRF token, Origin and POST-only rule of stop and remove.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allowedHostsFor,
  checkRequest,
  cookieValue,
  isLoopback,
  secretsEqual,
  type RequestFacts,
} from '../../src/ui/security.js';
import { writeSyntheticProject } from '../../bench/ui/synthetic.js';
import { csrfOf, rawRequest, startUi, type StartedUi } from './support.js';

const facts = (extra: Partial<RequestFacts>): RequestFacts => ({
  method: 'GET',
  host: '127.0.0.1:7411',
  origin: undefined,
  cookie: undefined,
  authorization: undefined,
  csrf: undefined,
  queryToken: null,
  changesState: false,
  ...extra,
});

describe('the security checks as functions', () => {
  const policy = {
    allowedHosts: allowedHostsFor('127.0.0.1', 7411),
    token: undefined,
    csrfToken: 'c'.repeat(43),
  };

  it('answers to its own names only', () => {
    expect(checkRequest(facts({}), policy).ok).toBe(true);
    expect(checkRequest(facts({ host: 'localhost:7411' }), policy).ok).toBe(true);
    expect(checkRequest(facts({ host: 'LOCALHOST:7411' }), policy).ok).toBe(true);
    for (const host of ['evil.example:7411', '127.0.0.1:80', '127.0.0.1', undefined]) {
      expect(checkRequest(facts({ host }), policy)).toMatchObject({ ok: false, status: 403 });
    }
  });

  it('compares secrets by value, whatever their length', () => {
    expect(secretsEqual('abc', 'abc')).toBe(true);
    expect(secretsEqual('abd', 'abc')).toBe(false);
    expect(secretsEqual('ab', 'abc')).toBe(false);
    expect(secretsEqual(undefined, 'abc')).toBe(false);
    expect(secretsEqual(null, 'abc')).toBe(false);
  });

  it('knows loopback addresses and reads cookies', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].map(isLoopback)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['0.0.0.0', '::', '192.168.1.2'].map(isLoopback)).toEqual([false, false, false]);
    expect(cookieValue('a=1; ferry_ui_token=xyz; b=2', 'ferry_ui_token')).toBe('xyz');
    expect(cookieValue('ferry_ui_token_x=1', 'ferry_ui_token')).toBeUndefined();
  });

  it('wants POST, the CSRF token and its own Origin for a change of state', () => {
    const change = { changesState: true, method: 'POST', csrf: policy.csrfToken };
    expect(checkRequest(facts(change), policy).ok).toBe(true);
    expect(checkRequest(facts({ ...change, origin: 'http://127.0.0.1:7411' }), policy).ok).toBe(
      true,
    );
    expect(checkRequest(facts({ ...change, method: 'GET' }), policy)).toMatchObject({
      status: 405,
    });
    for (const origin of ['http://evil.example', 'null', 'https://127.0.0.1:7411']) {
      expect(checkRequest(facts({ ...change, origin }), policy)).toMatchObject({ status: 403 });
    }
    expect(checkRequest(facts({ ...change, csrf: undefined }), policy)).toMatchObject({
      status: 403,
    });
    expect(checkRequest(facts({ ...change, csrf: 'x' }), policy)).toMatchObject({ status: 403 });
  });
});

describe('the UI server on loopback', () => {
  let dir: string;
  let ui: StartedUi;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-ui-security-'));
    // On a target the config no longer defines: no engine is asked about them, even by remove.
    await writeSyntheticProject(dir, 30, 'retired');
    ui = await startUi(dir);
  }, 120_000);

  afterAll(async () => {
    await ui?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints a URL without a token, and refuses a rebound Host', async () => {
    expect(ui.server.url).toBe(`http://127.0.0.1:${ui.server.port}/`);
    const page = await rawRequest(ui.server.port);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    const rebound = await rawRequest(ui.server.port, {
      path: '/api/runs',
      headers: { Host: `attacker.example:${ui.server.port}` },
    });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('20261201');
  });

  it('lists the runs with an ETag, and answers an unchanged refresh with a 304', async () => {
    const first = await rawRequest(ui.server.port, { path: '/api/runs' });
    expect(first.status).toBe(200);
    expect((JSON.parse(first.body) as { runs: unknown[] }).runs).toHaveLength(30);
    const etag = first.headers.etag as string;
    const again = await rawRequest(ui.server.port, {
      path: '/api/runs',
      headers: { 'If-None-Match': etag },
    });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('refuses to remove a run without the CSRF token, from another Origin, or by GET', async () => {
    const { runs } = JSON.parse((await rawRequest(ui.server.port, { path: '/api/runs' })).body) as {
      runs: { id: string }[];
    };
    const id = runs[0]!.id;
    const csrf = csrfOf((await rawRequest(ui.server.port)).body);
    const remove = (headers: Record<string, string>, method = 'POST') =>
      rawRequest(ui.server.port, {
        method,
        path: `/api/runs/${id}/remove`,
        headers: { 'Content-Type': 'application/json', ...headers },
        body: method === 'POST' ? '{"outputs":"drop"}' : undefined,
      });
    expect((await remove({})).status).toBe(403);
    expect((await remove({ 'X-Ferry-CSRF': 'guess' })).status).toBe(403);
    expect((await remove({ 'X-Ferry-CSRF': csrf, Origin: 'http://attacker.example' })).status).toBe(
      403,
    );
    expect((await remove({ 'X-Ferry-CSRF': csrf }, 'GET')).status).toBe(405);
    // Every refusal left the run alone.
    expect((await rawRequest(ui.server.port, { path: `/api/runs/${id}` })).status).toBe(200);
    const done = await remove({
      'X-Ferry-CSRF': csrf,
      Origin: `http://127.0.0.1:${ui.server.port}`,
    });
    expect(done.status, done.body).toBe(200);
    expect((await rawRequest(ui.server.port, { path: `/api/runs/${id}` })).status).toBe(404);
  });

  it('serves the front end from the package, nothing from elsewhere', async () => {
    const page = await rawRequest(ui.server.port);
    expect(page.body).not.toMatch(/https?:\/\//);
    const script = await rawRequest(ui.server.port, { path: '/assets/app.js' });
    expect(script.status).toBe(200);
    expect(script.body).toContain('uplot');
    expect(script.body).not.toMatch(/https?:\/\/(cdn|unpkg|fonts)/);
  });
});

describe('the UI server on all addresses', () => {
  let dir: string;
  let ui: StartedUi;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-ui-token-'));
    await writeSyntheticProject(dir, 3, 'retired');
    ui = await startUi(dir, { host: '0.0.0.0' });
  }, 120_000);

  afterAll(async () => {
    await ui?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('needs the token printed in its URL, then keeps it in a strict cookie', async () => {
    const token = new URL(ui.server.url).searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await rawRequest(ui.server.port, { path: '/api/runs' })).status).toBe(403);
    expect((await rawRequest(ui.server.port, { path: '/?token=wrong' })).status).toBe(403);
    expect(
      (await rawRequest(ui.server.port, { path: `/?token=${token.slice(0, -1)}x` })).status,
    ).toBe(403);
    const entered = await rawRequest(ui.server.port, { path: `/?token=${token}` });
    expect(entered.status).toBe(303);
    expect(entered.headers.location).toBe('/');
    const cookie = String(entered.headers['set-cookie']);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    const withCookie = await rawRequest(ui.server.port, {
      path: '/api/runs',
      headers: { Cookie: cookie.split(';')[0]! },
    });
    expect(withCookie.status).toBe(200);
    const bearer = await rawRequest(ui.server.port, {
      path: '/api/runs',
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(bearer.status).toBe(200);
  });
});
