// The native API under /api/: the only server the UI speaks to.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Fired when the native API asks for a session (HTTP 401). */
export const SIGN_IN_EVENT = "fluoro:sign-in";

async function request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "Unreachable", `fluoro did not answer (${(e as Error).message}). Is it running?`);
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (response.status === 401) {
    // The session is missing or expired: the app shows its sign-in form.
    window.dispatchEvent(new Event(SIGN_IN_EVENT));
  }
  if (!response.ok) {
    const message = data?.error ?? data?.message ?? (text || response.statusText);
    throw new ApiError(response.status, data?.code, `${message}`);
  }
  return data as T;
}

export const getJson = <T = any>(path: string, signal?: AbortSignal) => request<T>("GET", path, undefined, signal);
export const postJson = <T = any>(path: string, body: unknown, signal?: AbortSignal) =>
  request<T>("POST", path, body, signal);

/** A CloudWatch Logs operation in its AWS JSON shape (`POST /api/v1/logs/{Operation}`). */
export const logs = <T = any>(operation: string, input: object = {}, signal?: AbortSignal) =>
  postJson<T>(`/api/v1/logs/${operation}`, input, signal);

/** An X-Ray read operation in its AWS JSON shape (`POST /api/v1/xray/{Operation}`). */
export const xray = <T = any>(operation: string, input: object = {}, signal?: AbortSignal) =>
  postJson<T>(`/api/v1/xray/${operation}`, input, signal);

/** Every page of a paginated Logs operation, up to `max` items. */
export async function allPages<T>(
  operation: string,
  input: Record<string, unknown>,
  key: string,
  max = 2000,
): Promise<T[]> {
  const items: T[] = [];
  let nextToken: string | undefined;
  do {
    const page: any = await logs(operation, nextToken ? { ...input, nextToken } : input);
    items.push(...((page?.[key] ?? []) as T[]));
    nextToken = page?.nextToken;
  } while (nextToken && items.length < max);
  return items;
}
