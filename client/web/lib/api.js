// The /v1 API from the browser: same-origin fetch with the session cookie, JSON in and out.
// The CSRF token lives in this module's variable only (never in browser storage or a URL)
// and goes with every state-changing request as X-CSRF-Token.

let csrf = null;
let onUnauthenticated = null;

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || ('HTTP ' + status));
    this.name = 'ApiError';
    this.status = status;
    this.code = code || '';
    this.field = field === undefined ? null : field;
  }
}

export function setCsrf(token) {
  csrf = token || null;
}

// fn() is called on any 401 (the session ended), before the ApiError is thrown.
export function onUnauth(fn) {
  onUnauthenticated = fn;
}

async function request(method, path, body, accept) {
  const headers = {Accept: accept};
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store',
    redirect: 'error', referrerPolicy: 'no-referrer'};
  if (method !== 'GET' && method !== 'HEAD') {
    if (csrf) headers['X-CSRF-Token'] = csrf;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', e && e.message ? e.message : 'network error', null);
  }
  if (!res.ok) {
    let err = null;
    let j = null;
    try {
      j = await res.json();
      if (j && j.error) err = j.error;
    } catch (e) { /* not JSON */ }
    const ae = new ApiError(res.status, err ? err.code : '', err ? err.message : '', err ? err.field : null);
    ae.reply = j;
    if (res.status === 401 && onUnauthenticated && path !== '/v1/session') onUnauthenticated(ae);
    throw ae;
  }
  return res;
}

// api('GET', '/v1/contacts?limit=50') -> parsed JSON (null for an empty reply).
// Throws ApiError {status, code, message, field}.
export async function api(method, path, body) {
  const res = await request(method, path, body, 'application/json');
  const text = await res.text();
  const out = text ? JSON.parse(text) : null;
  if (out && typeof out === 'object') Object.defineProperty(out, '_status', {value: res.status});
  return out;
}

// GET a text reply (CSV).
export async function apiText(path) {
  const res = await request('GET', path, undefined, 'text/csv, text/plain, */*');
  return res.text();
}

// A query string from an object, leaving out empty values: qs({a: 1, b: ''}) -> '?a=1'.
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') p.append(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}
