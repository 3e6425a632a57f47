import type { ApiFailure } from './format.js';

/**
 * The console's only way to the API: same origin, the admin's token as a
 * bearer header (never in a URL or a cookie), JSON both ways. A 401 at any
 * moment (the token expired while the page was open) signs the admin out.
 */
export type ApiResult<T> = { ok: true; status: number; body: T } | { ok: false; failure: ApiFailure };

export class ApiClient {
  constructor(
    private readonly token: string,
    private readonly onUnauthorized: (failure: ApiFailure) => void,
  ) {}

  get<T>(path: string): Promise<ApiResult<T>> {
    return this.request<T>('GET', path);
  }

  /** A POST with an Idempotency-Key: sending it again with the same key (a retry after a timeout) gets the first answer, never a second effect. */
  post<T>(path: string, body: unknown, idempotencyKey: string): Promise<ApiResult<T>> {
    return this.request<T>('POST', path, body, idempotencyKey);
  }

  private async request<T>(method: string, path: string, body?: unknown, idempotencyKey?: string): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    let response: Response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
    } catch (error) {
      return { ok: false, failure: { status: 0, code: 'NETWORK', message: (error as Error).message } };
    }
    const parsed = await response.json().catch(() => null);
    // /api/status answers 503 with its full body when a dependency is down: a reading, not a failure.
    if (response.ok || (response.status === 503 && parsed && !('error' in parsed))) return { ok: true, status: response.status, body: parsed as T };
    const error = (parsed as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    const failure: ApiFailure = { status: response.status, code: error?.code, message: error?.message, details: error?.details };
    if (response.status === 401) this.onUnauthorized(failure);
    return { ok: false, failure };
  }
}

export function newIdempotencyKey(action: string): string {
  return `console-${action}-${crypto.randomUUID()}`;
}
