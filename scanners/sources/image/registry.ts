import { readFileSync } from 'node:fs';
import type { LayerSource } from './source.js';
import { ImageError, MAX_JSON_BLOB, MEDIA, type BlobStore } from './store.js';

/**
 * A Distribution v2 registry client on `fetch`: manifests with the Accept headers for OCI and
 * Docker media types, blobs streamed, token (Bearer) and Basic authentication. Every request has
 * a timeout, and so does every pause in a streamed blob. Credentials never appear in messages:
 * they name the registry, the path and the status, nothing else.
 */

export interface RegistryRef {
  host: string;
  name: string;
  /** A tag or a digest. */
  reference: string;
}

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  insecure?: boolean;
  /** Milliseconds before a request (or a pause in a download) is given up. */
  timeout: number;
  credentials?: Credentials;
  /** An Authorization header already obtained (a worker thread reuses the main thread's token). */
  authorization?: string;
}

const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(', ');

/** `registry://host[:port]/name[:tag|@digest]`. */
export function parseRegistryRef(text: string): RegistryRef {
  const rest = text.replace(/^registry:\/\//, '');
  const slash = rest.indexOf('/');
  if (slash <= 0) throw new ImageError(`${text}: expected registry://HOST[:PORT]/NAME[:TAG|@DIGEST]`);
  const host = rest.slice(0, slash);
  let name = rest.slice(slash + 1);
  let reference = 'latest';
  const at = name.indexOf('@');
  if (at !== -1) {
    reference = name.slice(at + 1);
    name = name.slice(0, at);
  } else {
    const colon = name.lastIndexOf(':');
    if (colon > name.lastIndexOf('/')) {
      reference = name.slice(colon + 1);
      name = name.slice(0, colon);
    }
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(name)) throw new ImageError(`${text}: "${name}" is not a repository name`);
  return { host, name, reference };
}

/**
 * Credentials for a registry from a containers `auth.json` or a Docker `config.json`:
 * `{"auths": {"host:port": {"auth": base64("user:password")}}}`.
 */
export function credentialsFor(authfile: string, host: string): Credentials | undefined {
  let parsed: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    parsed = JSON.parse(readFileSync(authfile, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ImageError(`--authfile ${authfile}: ${code === 'ENOENT' ? 'no such file' : code ? 'cannot read it' : 'not valid JSON'}`);
  }
  for (const [key, entry] of Object.entries(parsed.auths ?? {})) {
    const keyHost = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (keyHost !== host) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

export class RegistryStore implements BlobStore {
  readonly name: string;
  private authorization: string | undefined;
  private readonly base: string;

  constructor(
    readonly ref: RegistryRef,
    private readonly options: RegistryOptions,
  ) {
    this.name = `${ref.host}/${ref.name}`;
    this.authorization = options.authorization;
    this.base = `${options.insecure ? 'http' : 'https'}://${ref.host}`;
  }

  /** Where a layer is, for a worker thread to open it with the same credentials. */
  layerSource(digest: string): LayerSource {
    const { insecure, timeout, credentials } = this.options;
    return { kind: 'registry', ref: this.ref, digest, insecure, timeout, credentials, authorization: this.authorization };
  }

  /** The manifest or index for a tag or digest, with its media type and digest. */
  async manifest(reference: string): Promise<{ mediaType: string; data: Buffer; digest?: string }> {
    const path = `/v2/${this.ref.name}/manifests/${reference}`;
    const response = await this.request(path, { accept: MANIFEST_ACCEPT });
    const data = await this.body(response, path, MAX_JSON_BLOB);
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0].trim();
    return { mediaType, data, digest: response.headers.get('docker-content-digest') ?? undefined };
  }

  async readBlob(digest: string, maxSize = MAX_JSON_BLOB): Promise<Buffer> {
    const path = `/v2/${this.ref.name}/blobs/${digest}`;
    return this.body(await this.request(path), path, maxSize);
  }

  async openBlob(digest: string): Promise<AsyncIterable<Buffer>> {
    const path = `/v2/${this.ref.name}/blobs/${digest}`;
    const controller = new AbortController();
    const response = await this.request(path, {}, controller);
    return this.stream(response, path, controller);
  }

  /** One request with authentication: a 401 is answered once, with a token or Basic credentials. */
  private async request(path: string, headers: Record<string, string> = {}, controller = new AbortController()): Promise<Response> {
    let response = await this.fetchWithTimeout(path, headers, controller);
    if (response.status === 401) {
      await response.body?.cancel();
      this.authorization = await this.authenticate(response.headers.get('www-authenticate') ?? '');
      response = await this.fetchWithTimeout(path, headers, controller);
    }
    if (response.ok) return response;
    await response.body?.cancel().catch(() => {});
    throw new ImageError(this.describeStatus(response.status, response.statusText, path));
  }

  private async fetchWithTimeout(path: string, headers: Record<string, string>, controller: AbortController): Promise<Response> {
    const timer = setTimeout(() => controller.abort(new TimeoutError()), this.options.timeout);
    try {
      return await fetch(this.base + path, {
        headers: { ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) },
        signal: controller.signal,
        redirect: 'follow',
      });
    } catch (error) {
      throw this.networkError(error, controller);
    } finally {
      clearTimeout(timer);
    }
  }

  private networkError(error: unknown, controller: AbortController): ImageError {
    if (controller.signal.reason instanceof TimeoutError) return new ImageError(`${this.ref.host}: no answer within ${this.options.timeout / 1000} s`);
    const cause = (error as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? (error as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED') return new ImageError(`${this.ref.host}: connection refused`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ImageError(`${this.ref.host}: unknown host`);
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return new ImageError(`${this.ref.host}: the connection was closed`);
    if (code && /CERT|TLS|SSL/.test(code)) return new ImageError(`${this.ref.host}: TLS failed (${code}); a registry without TLS needs --insecure`);
    if (/wrong version number|EPROTO/i.test(String((error as Error).message) + String(code)))
      return new ImageError(`${this.ref.host}: TLS failed; a registry without TLS needs --insecure`);
    return new ImageError(`${this.ref.host}: request failed${code ? ` (${code})` : ''}`);
  }

  private describeStatus(status: number, text: string, path: string): string {
    if (status === 401) return `${this.ref.host}: ${path} needs credentials the registry accepted (401 Unauthorized); give them with --authfile`;
    if (status === 403) return `${this.ref.host}: access to ${path} denied (403 Forbidden)`;
    if (status === 404) return `${this.ref.host}: ${path} not found (404)`;
    return `${this.ref.host}: ${path} answered ${status}${text ? ` ${text}` : ''}`;
  }

  /** Answers a challenge: Bearer → a token from the realm (with credentials if we have them); Basic → credentials. */
  private async authenticate(challenge: string): Promise<string> {
    const creds = this.options.credentials;
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined;
    const scheme = challenge.split(' ')[0].toLowerCase();
    if (scheme === 'basic') {
      if (!basic) throw new ImageError(`${this.ref.host}: the registry needs credentials (401 Unauthorized); give them with --authfile`);
      return basic;
    }
    if (scheme !== 'bearer') throw new ImageError(`${this.ref.host}: unsupported authentication scheme "${scheme || 'none'}"`);
    const params = Object.fromEntries([...challenge.slice(7).matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1].toLowerCase(), m[2]]));
    if (!params.realm) throw new ImageError(`${this.ref.host}: a Bearer challenge without a realm`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', params.scope ?? `repository:${this.ref.name}:pull`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new TimeoutError()), this.options.timeout);
    let response: Response;
    try {
      response = await fetch(url, { headers: basic ? { authorization: basic } : {}, signal: controller.signal });
    } catch (error) {
      throw this.networkError(error, controller);
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new ImageError(`${url.host}: the token service answered ${response.status}${response.status === 401 ? '; check the credentials in --authfile' : ''}`);
    }
    let token: string | undefined;
    try {
      const body = (await response.json()) as { token?: string; access_token?: string };
      token = body.token ?? body.access_token;
    } catch {
      /* handled below */
    }
    if (!token) throw new ImageError(`${url.host}: the token service gave no token`);
    return `Bearer ${token}`;
  }

  private async body(response: Response, path: string, maxSize: number): Promise<Buffer> {
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > maxSize) {
      await response.body?.cancel().catch(() => {});
      throw new ImageError(`${this.ref.host}: ${path} is ${declared} bytes, too large for a manifest or config`);
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const part of this.stream(response, path, new AbortController())) {
      size += part.length;
      if (size > maxSize) throw new ImageError(`${this.ref.host}: ${path} is over ${maxSize} bytes, too large for a manifest or config`);
      parts.push(part);
    }
    return Buffer.concat(parts);
  }

  /** A response body as chunks, given up when the registry pauses longer than the timeout. */
  private async *stream(response: Response, path: string, controller: AbortController): AsyncGenerator<Buffer> {
    if (!response.body) return;
    const reader = response.body.getReader();
    const timeout = this.options.timeout;
    try {
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const stalled = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            controller.abort(new TimeoutError());
            reject(new ImageError(`${this.ref.host}: ${path} stopped sending for ${timeout / 1000} s`));
          }, timeout);
        });
        let result: { done: boolean; value?: Uint8Array };
        try {
          result = await Promise.race([reader.read(), stalled]);
        } catch (error) {
          if (error instanceof ImageError) throw error;
          if (controller.signal.reason instanceof TimeoutError) throw new ImageError(`${this.ref.host}: ${path} stopped sending for ${timeout / 1000} s`);
          throw new ImageError(`${this.ref.host}: ${path}: the download broke off`);
        } finally {
          clearTimeout(timer);
        }
        if (result.done) return;
        if (result.value) yield Buffer.from(result.value.buffer, result.value.byteOffset, result.value.byteLength);
      }
    } finally {
      // A read may still be pending after a stall; cancelling the stream settles it.
      await reader.cancel().catch(() => {});
      try {
        reader.releaseLock();
      } catch {
        /* already released */
      }
    }
  }
}

class TimeoutError extends Error {}
