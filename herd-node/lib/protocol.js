'use strict';
// The herd protocol in plain JavaScript: lines, commands, records and the places reply.
//
// Pure functions over Buffers and strings, no sockets and no clock (the receive time is an
// argument), so test/protocol.test.js checks each decision without a server. Each rule
// mirrors the Rust core (`protocol/`) and docs/PROTOCOL.md; the conformance suite holds the
// backends to the same behaviour. Times are BigInt nanoseconds: exact, never floating point.

const { isUtf8 } = require('node:buffer');

const MAX_LINE_BYTES = 65536;
// A peer link carries AT lines, which are longer than the IAMAT they came from by the server
// name (at most MAX_SERVER_NAME_BYTES) and the skew (at most MAX_SKEW_BYTES), less one byte:
// the link must take every record its server accepted (docs/PROTOCOL.md, Lines).
const MAX_SERVER_NAME_BYTES = 255;
const MAX_SKEW_BYTES = 1 + 21 + 1 + 9;
const MAX_PEER_LINE_BYTES = MAX_LINE_BYTES + MAX_SERVER_NAME_BYTES + MAX_SKEW_BYTES;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const NANOS_PER_SEC = 1_000_000_000n;
const U64_MAX = 2n ** 64n - 1n;
const BUSY_REPLY = Buffer.from('! server busy: connection limit reached\n');
const NEARBY_PATH = '/maps/api/place/nearbysearch/json';

const C1_CONTROL = /[\u0080-\u009f]/;
const FIELD_SEP = /[ \t]+/;
const DECIMAL = /^([0-9]+)(?:\.([0-9]+))?$/;
const LOCATION = /^([+-])([0-9]+)(?:\.([0-9]+))?([+-])([0-9]+)(?:\.([0-9]+))?$/;
const SKEW = /^[+-][0-9]+\.[0-9]{9}$/;
const BOUND = /^[0-9]+$/;

/** A line that is not a valid command: the client gets `? <line>`. */
class Invalid extends Error {}

/** A line over MAX_LINE_BYTES: its connection is closed. */
class LineTooLong extends Error {}

/** Splits a byte stream into lines; `\r\n` and `\n` both end one. */
class LineBuffer {
  constructor(limit = MAX_LINE_BYTES) {
    this.buf = Buffer.alloc(0);
    this.start = 0;
    this.limit = limit;
  }

  extend(data) {
    this.buf = this.start === this.buf.length
      ? data
      : Buffer.concat([this.buf.subarray(this.start), data]);
    this.start = 0;
  }

  /** The next complete line (a Buffer without its terminator), or null; throws LineTooLong. */
  nextLine() {
    const end = this.buf.indexOf(10, this.start);
    if (end < 0) {
      if (this.buf.length - this.start > this.limit + 1) throw new LineTooLong();
      return null;
    }
    const stop = end > this.start && this.buf[end - 1] === 13 ? end - 1 : end;
    if (stop - this.start > this.limit) throw new LineTooLong();
    const line = this.buf.subarray(this.start, stop);
    this.start = end + 1;
    return line;
  }

  pending() {
    return this.buf.length - this.start;
  }
}

/** Decodes a line and splits it on spaces and tabs; throws Invalid on forbidden bytes. */
function fieldsOf(line) {
  let ascii = true;
  for (let i = 0; i < line.length; i++) {
    const b = line[i];
    if ((b < 0x20 && b !== 0x09) || b === 0x7f) throw new Invalid('control byte');
    if (b >= 0x80) ascii = false;
  }
  if (!ascii && !isUtf8(line)) throw new Invalid('line is not UTF-8');
  const text = line.toString('utf8');
  if (!ascii && C1_CONTROL.test(text)) throw new Invalid('control character');
  return text.split(FIELD_SEP).filter((f) => f !== '');
}

function within(intPart, frac, max) {
  const value = BigInt(intPart);
  return value < BigInt(max) || (value === BigInt(max) && /^0*$/.test(frac));
}

/** Validates an ISO 6709 location; returns the places query value `lat,lng`. */
function checkLocation(text) {
  const m = LOCATION.exec(text);
  if (!m) throw new Invalid('bad location');
  const [, , latInt, latFrac = '', , lngInt, lngFrac = ''] = m;
  if (latInt.length > 2 || !within(latInt, latFrac, 90)) throw new Invalid('bad latitude');
  if (lngInt.length > 3 || !within(lngInt, lngFrac, 180)) throw new Invalid('bad longitude');
  const split = 1 + latInt.length + (m[3] === undefined ? 0 : latFrac.length + 1);
  const strip = (s) => (s[0] === '+' ? s.slice(1) : s);
  return `${strip(text.slice(0, split))},${strip(text.slice(split))}`;
}

/** POSIX seconds with up to nine fractional digits, as exact BigInt nanoseconds. */
function clientTimeNanos(text) {
  const m = DECIMAL.exec(text);
  if (!m) throw new Invalid('bad client time');
  const frac = m[2] ?? '';
  if (frac.length > 9) throw new Invalid('at most nine fractional digits');
  const secs = BigInt(m[1]);
  if (secs > U64_MAX) throw new Invalid('seconds out of range');
  return secs * NANOS_PER_SEC + (frac ? BigInt(frac.padEnd(9, '0')) : 0n);
}

/** A radius in km (0 < r <= 50) as exact decimal metres text, e.g. `0.5` -> `500`. */
function radiusMetres(text) {
  const m = DECIMAL.exec(text);
  if (!m) throw new Invalid('bad radius');
  const intPart = m[1];
  const frac = m[2] ?? '';
  if (/^0*$/.test(intPart) && /^0*$/.test(frac)) throw new Invalid('radius must be > 0');
  if (!within(intPart, frac, 50)) throw new Invalid('radius must be at most 50 km');
  const digits = (intPart + frac).padEnd(intPart.length + 3, '0');
  const whole = digits.slice(0, intPart.length + 3).replace(/^0+/, '') || '0';
  const rest = digits.slice(intPart.length + 3).replace(/0+$/, '');
  return rest ? `${whole}.${rest}` : whole;
}

function parseBound(text) {
  if (!BOUND.test(text)) throw new Invalid('bound must be an integer');
  const n = BigInt(text);
  if (n < 1n || n > 20n) throw new Invalid('bound must be from 1 to 20');
  return Number(n);
}

function formatSkew(nanos) {
  const sign = nanos < 0n ? '-' : '+';
  const abs = nanos < 0n ? -nanos : nanos;
  return `${sign}${abs / NANOS_PER_SEC}.${String(abs % NANOS_PER_SEC).padStart(9, '0')}`;
}

function formatTime(nanos) {
  return `${nanos / NANOS_PER_SEC}.${String(nanos % NANOS_PER_SEC).padStart(9, '0')}`;
}

/**
 * A client line as an object ({verb: 'IAMAT' | 'WHATSAT' | 'HELLO', ...}), or null for a
 * blank line; throws Invalid.
 */
function parseCommand(line) {
  const f = fieldsOf(line);
  if (f.length === 0) return null;
  switch (f[0]) {
    case 'IAMAT':
      if (f.length !== 4) throw new Invalid('IAMAT takes 4 fields');
      return {
        verb: 'IAMAT',
        client: f[1],
        location: f[2],
        query: checkLocation(f[2]),
        timeText: f[3],
        time: clientTimeNanos(f[3]),
      };
    case 'WHATSAT':
      if (f.length !== 4) throw new Invalid('WHATSAT takes 4 fields');
      return { verb: 'WHATSAT', client: f[1], metres: radiusMetres(f[2]), bound: parseBound(f[3]) };
    case 'HELLO':
      if (f.length !== 3) throw new Invalid('HELLO takes 3 fields');
      return { verb: 'HELLO', server: f[1], key: f[2] };
    case 'AT':
      throw new Invalid('AT lines come only from peer servers');
    default:
      throw new Invalid('unknown verb');
  }
}

/** A stored location: the AT line as sent on the wire, its client time and query value. */
function recordFromIamat(server, received, cmd) {
  const skew = formatSkew(received - cmd.time);
  const wire = Buffer.from(`AT ${server} ${skew} ${cmd.client} ${cmd.location} ${cmd.timeText}\n`);
  return { wire, client: cmd.client, time: cmd.time, query: cmd.query };
}

/** An AT line from a peer, kept in canonical form (fields joined by one space). */
function parseRecord(line) {
  const f = fieldsOf(line);
  if (f.length !== 6 || f[0] !== 'AT') throw new Invalid('AT takes 6 fields');
  if (!SKEW.test(f[2])) throw new Invalid('bad skew');
  const query = checkLocation(f[4]);
  const time = clientTimeNanos(f[5]);
  return { wire: Buffer.from(`${f.join(' ')}\n`), client: f[3], time, query };
}

function invalidReply(line) {
  return Buffer.concat([Buffer.from('? '), line, Buffer.from('\n')]);
}

function helloLine(server, key) {
  return Buffer.from(`HELLO ${server} ${key}\n`);
}

// The places endpoint ----------------------------------------------------------------

/** {host, port, authority, prefix} of an `http://` base URL; throws Error. */
function endpointOf(baseUrl) {
  if (!baseUrl.startsWith('http://')) {
    throw new Error(`places.base_url ${JSON.stringify(baseUrl)} must start with http://`);
  }
  const rest = baseUrl.slice('http://'.length);
  const slash = rest.indexOf('/');
  let authority = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = (slash < 0 ? '' : rest.slice(slash)).replace(/\/+$/, '');
  if (!authority || /[@?# ]/.test(authority)) {
    throw new Error(`places.base_url ${JSON.stringify(baseUrl)} has no usable host`);
  }
  const colon = authority.lastIndexOf(':');
  const portText = colon < 0 ? '' : authority.slice(colon + 1);
  let host;
  let port;
  if (colon > 0 && /^[0-9]+$/.test(portText) && Number(portText) <= 65535) {
    host = authority.slice(0, colon);
    port = Number(portText);
  } else {
    host = authority;
    port = 80;
    authority += ':80';
  }
  return { host: host.replace(/^\[|\]$/g, ''), port, authority, prefix };
}

/** Percent-encodes all but unreserved characters, as the Rust core does. */
function encodeQueryValue(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function placesPath(prefix, key, query, metres) {
  return `${prefix}${NEARBY_PATH}?location=${encodeQueryValue(query)}&radius=${metres}&key=${encodeQueryValue(key)}`;
}

function errorJson(status, message) {
  return { html_attributions: [], results: [], status, error_message: message };
}

/** The WHATSAT JSON for an HTTP response, its results cut to `bound`. */
function jsonFor(status, body, bound) {
  let parsed = null;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    parsed = null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) parsed = null;
  const upstream = parsed && typeof parsed.status === 'string' ? parsed.status : null;
  if (status === 200 && upstream !== null && Array.isArray(parsed.results)) {
    parsed.results.length = Math.min(parsed.results.length, bound);
    return parsed;
  }
  if (upstream !== null && upstream !== 'OK') {
    const message = typeof parsed.error_message === 'string'
      ? parsed.error_message
      : `places service answered HTTP ${status}`;
    return errorJson(upstream, message);
  }
  if (status === 200) return errorJson('UNKNOWN_ERROR', 'places service answered with unexpected JSON');
  return errorJson('UNKNOWN_ERROR', `places service answered HTTP ${status}`);
}

/** The stored AT line, the pretty JSON, and the blank line that ends a reply. */
function whatsatReply(atWire, json) {
  return Buffer.concat([atWire, Buffer.from(`${JSON.stringify(json, null, 2)}\n\n`)]);
}

/** A line for the log: controls, quotes and backslashes escaped. */
function escape(data) {
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : data;
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\\'"\u0000-\u001f\u007f-\u009f]/g, (c) => {
    switch (c) {
      case '\t': return '\\t';
      case '\r': return '\\r';
      case '\n': return '\\n';
      case '\\': case '\'': case '"': return `\\${c}`;
      default: return `\\u{${c.charCodeAt(0).toString(16)}}`;
    }
  });
}

module.exports = {
  MAX_LINE_BYTES,
  MAX_PEER_LINE_BYTES,
  MAX_SERVER_NAME_BYTES,
  MAX_BODY_BYTES,
  BUSY_REPLY,
  Invalid,
  LineTooLong,
  LineBuffer,
  fieldsOf,
  checkLocation,
  clientTimeNanos,
  radiusMetres,
  parseBound,
  formatSkew,
  formatTime,
  parseCommand,
  recordFromIamat,
  parseRecord,
  invalidReply,
  helloLine,
  endpointOf,
  placesPath,
  errorJson,
  jsonFor,
  whatsatReply,
  escape,
};
