// The app's API: where it is (`config.base_url`), its token (the secret
// `api_token`, sent as a bearer token), and its answers mapped to keystep's
// error codes. Change the paths and headers here to fit your app.
// @ts-check

import { config, httpFetch, secret } from 'keystep:plugin/host@0.1.0';

export class Api {
  constructor(baseUrl, token) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
  }

  static fromConfig() {
    const baseUrl = JSON.parse(config()).base_url;
    if (typeof baseUrl !== 'string' || baseUrl === '') {
      throw failure('invalid-argument', '{{name}}.toml has no config.base_url');
    }
    // Throws `denied` unless the grant file names the secret.
    return new Api(baseUrl, secret('api_token'));
  }

  /** Sends a request; answers [status, body as JSON (null when it is not
   * JSON)]. Throws only when the request fails: `denied` (a host the grant
   * file does not allow) or `unavailable` (retryable). */
  send(method, path, body, idempotencyKey) {
    /** @type {Array<[string, string]>} */
    const headers = [
      ['Authorization', `Bearer ${this.token}`],
      ['Accept', 'application/json'],
      // The same on a replay after a crash: the app can skip a repeat.
      ['Idempotency-Key', idempotencyKey],
    ];
    let data;
    if (body !== undefined) {
      headers.push(['Content-Type', 'application/json']);
      data = new TextEncoder().encode(JSON.stringify(body));
    }
    const response = httpFetch({ method, url: this.baseUrl + path, headers, body: data });
    let answer = null;
    try {
      answer = JSON.parse(new TextDecoder().decode(response.body));
    } catch {
      // not JSON
    }
    return [response.status, answer];
  }

  /** Sends a request; the answer of a 2xx, else throws its error. */
  call(method, path, body, idempotencyKey) {
    const [status, answer] = this.send(method, path, body, idempotencyKey);
    return check(`${method} ${path}`, status, answer);
  }
}

/** The answer of a 2xx; any other status thrown as an error with keystep's
 * code for it, retryable when trying again later may work. */
export function check(what, status, answer) {
  if (status >= 200 && status < 300) return answer;
  let code = 'invalid-argument';
  if (status === 401 || status === 403) code = 'denied';
  else if (status === 404) code = 'not-found';
  else if (status === 409) code = 'already-exists';
  else if (status === 429) code = 'rate-limited';
  else if (status >= 500) code = 'unavailable';
  const why = typeof answer?.error === 'string' ? answer.error : 'no error message';
  const retryable = code === 'rate-limited' || code === 'unavailable';
  throw failure(code, `{{name}}: ${what} answered ${status}: ${why}`, retryable);
}

/** Percent-encodes all but unreserved characters, for a path segment. */
export function segment(text) {
  return encodeURIComponent(text);
}

/** An Error carrying keystep's error record as its `payload`. */
export function failure(code, message, retryable = false) {
  const e = new Error(message);
  // @ts-ignore: the payload is what componentize-js sends as the error
  e.payload = { code, message, retryable };
  return e;
}

/** Runs `body`; passes a thrown record on, and turns anything else (a bug)
 * into an `internal` error carrying its stack. */
export function typed(body) {
  try {
    return body();
  } catch (e) {
    if (e?.payload || typeof e?.code === 'string') throw e;
    throw failure('internal', e instanceof Error ? `${e}\n${e.stack}` : String(e));
  }
}
