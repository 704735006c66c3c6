// The quarterly report's signature checked in the browser (docs/report-format.md): Ed25519
// over the canonical JSON of the report without `signature`, as jansson writes it with
// JSON_SORT_KEYS | JSON_COMPACT: keys in byte order, no whitespace, strings UTF-8 as they are
// with only '"', '\' and control characters escaped (\b \f \n \r \t, else \u00XX in capitals),
// '/' not escaped, integers in decimal.

function str(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c === 8) out += '\\b';
    else if (c === 12) out += '\\f';
    else if (c === 10) out += '\\n';
    else if (c === 13) out += '\\r';
    else if (c === 9) out += '\\t';
    else if (c < 0x20) out += '\\u' + c.toString(16).toUpperCase().padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

// Byte order of the UTF-8 encodings is code point order.
function byCodePoint(a, b) {
  const x = Array.from(a), y = Array.from(b);
  for (let i = 0; i < x.length && i < y.length; i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
}

export function canonical(v) {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError('the report holds a number that is not an integer');
    return String(v);
  }
  if (typeof v === 'string') return str(v);
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  if (typeof v === 'object') {
    return '{' + Object.keys(v).sort(byCodePoint).map((k) => str(k) + ':' + canonical(v[k])).join(',') + '}';
  }
  throw new TypeError('unexpected value in the report');
}

function unbase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// The public key from what the user pasted: a bare key (44 characters of base64, as
// `helplined signing-key show` prints it last on its line) or lines of a keys file
// ("CODE ed25519 KEY_ID PUBLIC_KEY", '#' comments), of which the line for CODE and KEY_ID.
// Returns the base64 text or null.
export function pickKey(text, code, keyId) {
  const lines = String(text || '').split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim()).filter(Boolean);
  const isKey = (s) => /^[A-Za-z0-9+/]{43}=$/.test(s);
  for (const l of lines) {
    const f = l.split(/\s+/);
    if (f.length === 4 && f[1] === 'ed25519' && f[0] === code && f[2] === keyId && isKey(f[3])) return f[3];
  }
  if (lines.length === 1) {
    const f = lines[0].split(/\s+/);
    const last = f[f.length - 1];
    if (isKey(last)) return last;
  }
  return null;
}

// 'valid', 'invalid' or 'unsupported' (no WebCrypto Ed25519 in this browser, or no secure
// context). REPORT is the parsed document; PUBLIC_KEY base64.
export async function verifyReport(report, publicKey) {
  const sig = report && report.signature;
  if (!sig || typeof sig !== 'object' || Object.keys(sig).length !== 3 || sig.alg !== 'ed25519'
      || typeof sig.value !== 'string' || typeof sig.key_id !== 'string') return 'invalid';
  if (!globalThis.crypto || !crypto.subtle) return 'unsupported';
  let key;
  try {
    key = await crypto.subtle.importKey('raw', unbase64(publicKey), {name: 'Ed25519'}, false, ['verify']);
  } catch (e) {
    return e && e.name === 'NotSupportedError' ? 'unsupported' : 'invalid';
  }
  let signature, data;
  try {
    signature = unbase64(sig.value);
    const body = Object.fromEntries(Object.entries(report).filter(([k]) => k !== 'signature'));
    data = new TextEncoder().encode(canonical(body));
  } catch (e) {
    return 'invalid';
  }
  if (signature.length !== 64) return 'invalid';
  try {
    return (await crypto.subtle.verify({name: 'Ed25519'}, key, signature, data)) ? 'valid' : 'invalid';
  } catch (e) {
    return e && e.name === 'NotSupportedError' ? 'unsupported' : 'invalid';
  }
}
