/// <reference lib="dom" />
/** The JSON API, with ETags remembered per URL so an unchanged refresh is a 304. */

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const etags = new Map<string, { etag: string; value: unknown }>();

/** GETs `url`; `changed` is false when the server said 304 (the value is the one kept). */
export async function getJson<T>(url: string): Promise<{ value: T; changed: boolean }> {
  const known = etags.get(url);
  const response = await fetch(url, {
    headers: known === undefined ? {} : { 'If-None-Match': known.etag },
    credentials: 'same-origin',
  });
  if (response.status === 304 && known !== undefined)
    return { value: known.value as T, changed: false };
  const value = (await response.json()) as T & { error?: string };
  if (!response.ok)
    throw new ApiError(value.error ?? `${url}: HTTP ${response.status}`, response.status);
  const etag = response.headers.get('ETag');
  if (etag !== null) etags.set(url, { etag, value });
  return { value, changed: true };
}

function csrfToken(): string {
  return document.querySelector('meta[name="ferry-csrf"]')?.getAttribute('content') ?? '';
}

/** POSTs a state change (stop, remove) with the page's CSRF token. */
export async function post<T>(url: string, body: unknown = {}): Promise<T> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Ferry-CSRF': csrfToken() },
    body: JSON.stringify(body),
    credentials: 'same-origin',
  });
  const value = (await response.json()) as T & { error?: string };
  if (!response.ok)
    throw new ApiError(value.error ?? `${url}: HTTP ${response.status}`, response.status);
  return value;
}
