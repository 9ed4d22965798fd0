'use strict';
// The herd config: TOML read with smol-toml (pinned in package-lock.json) and validated by
// the same rules as the Rust core's config.rs: symmetric links between known servers,
// distinct non-zero ports, an `http://` places endpoint, default limits, no unknown keys.

const fs = require('node:fs');
const net = require('node:net');
const TOML = require('smol-toml');
const { MAX_SERVER_NAME_BYTES, endpointOf } = require('./protocol');

const DEFAULT_LIMITS = { max_clients: 1000000, max_connections: 20000, peer_queue: 65536 };

class ConfigError extends Error {}

function table(doc, key, source, allowed, required) {
  const t = doc[key];
  if (t === null || typeof t !== 'object' || Array.isArray(t)) {
    throw new ConfigError(`${source}: missing [${key}] table`);
  }
  const unknown = Object.keys(t).filter((k) => !allowed.includes(k));
  if (unknown.length) throw new ConfigError(`${source}: unknown field(s) in [${key}]: ${unknown.join(', ')}`);
  for (const name of required) {
    if (!(name in t)) throw new ConfigError(`${source}: [${key}] needs \`${name}\``);
  }
  return t;
}

/** `ip:port` (IPv6 in brackets) as {host, port}, or null. */
function parseAddr(text) {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]{1,5})$/.exec(String(text));
  if (!m) return null;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535 || (m[1] ? !net.isIPv6(host) : !net.isIPv4(host))) return null;
  return { host, port };
}

const validName = (name) => typeof name === 'string' && name !== ''
  && Buffer.byteLength(name) <= MAX_SERVER_NAME_BYTES && !/[\s\p{Cc}]/u.test(name);

function load(path) {
  let text;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${path}: ${e.message}`);
  }
  let doc;
  try {
    doc = TOML.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}:${e.line ?? '?'}: ${String(e.message).split('\n')[0]}`);
  }
  return validate(doc, path);
}

function validate(doc, source) {
  const unknown = Object.keys(doc).filter((k) => !['herd', 'places', 'limits', 'server'].includes(k));
  if (unknown.length) throw new ConfigError(`${source}: unknown top-level field(s): ${unknown.join(', ')}`);
  const herd = table(doc, 'herd', source, ['key', 'anti_entropy'], ['key']);
  const antiEntropy = herd.anti_entropy ?? true;
  if (typeof antiEntropy !== 'boolean') throw new ConfigError(`${source}: anti_entropy must be true or false`);
  const places = table(doc, 'places', source, ['base_url', 'key', 'timeout_ms'], ['base_url', 'key']);
  const limits = { ...DEFAULT_LIMITS };
  if ('limits' in doc) Object.assign(limits, table(doc, 'limits', source, Object.keys(DEFAULT_LIMITS), []));
  const timeoutMs = places.timeout_ms ?? 5000;
  for (const [name, value] of [...Object.entries(limits), ['timeout_ms', timeoutMs]]) {
    if (!Number.isSafeInteger(Number(value)) || typeof value === 'boolean' || Number(value) < 0) {
      throw new ConfigError(`${source}: ${name} must be a non-negative integer`);
    }
    if (name in limits) limits[name] = Number(value);
  }
  const raw = doc.server ?? [];
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new ConfigError(`${source}: no [[server]] entries: a herd needs at least one server`);
  }
  const servers = new Map();
  const addrs = new Map();
  for (const s of raw) {
    if (Object.keys(s).some((k) => !['name', 'addr', 'neighbours'].includes(k))) {
      throw new ConfigError(`${source}: a [[server]] may have only name, addr, neighbours`);
    }
    const { name } = s;
    if (!validName(name)) {
      throw new ConfigError(`${source}: server name ${JSON.stringify(name)} must be 1-${MAX_SERVER_NAME_BYTES} bytes with no whitespace or control characters`);
    }
    if (servers.has(name)) throw new ConfigError(`${source}: server ${JSON.stringify(name)} is defined twice`);
    const addr = parseAddr(s.addr);
    if (!addr) {
      throw new ConfigError(`${source}: server ${JSON.stringify(name)}: addr ${JSON.stringify(s.addr)} is not ip:port (e.g. 127.0.0.1:12000)`);
    }
    const addrKey = `${addr.host}|${addr.port}`;
    if (addrs.has(addrKey)) {
      throw new ConfigError(`${source}: server ${JSON.stringify(name)} uses ${s.addr}, already used by ${JSON.stringify(addrs.get(addrKey))}`);
    }
    if (addr.port === 0) throw new ConfigError(`${source}: server ${JSON.stringify(name)} needs a fixed port, not 0`);
    addrs.set(addrKey, name);
    servers.set(name, { name, addr, neighbours: [...(s.neighbours ?? [])] });
  }
  for (const [name, s] of servers) {
    const seen = new Set();
    for (const n of s.neighbours) {
      const q = JSON.stringify;
      if (!servers.has(n)) throw new ConfigError(`${source}: server ${q(name)} lists neighbour ${q(n)}, which is not a server of this herd`);
      if (n === name) throw new ConfigError(`${source}: server ${q(name)} lists itself as a neighbour`);
      if (seen.has(n)) throw new ConfigError(`${source}: server ${q(name)} lists ${q(n)} twice`);
      seen.add(n);
      if (!servers.get(n).neighbours.includes(name)) {
        throw new ConfigError(`${source}: link ${q(name)} -> ${q(n)} is one-sided: add ${q(name)} to the neighbours of ${q(n)}`);
      }
    }
  }
  let endpoint;
  try {
    endpoint = endpointOf(String(places.base_url));
  } catch (e) {
    throw new ConfigError(`${source}: ${e.message}`);
  }
  return {
    key: String(herd.key),
    // Off only in fault tests that prove the lost-update checker can fail.
    antiEntropy,
    places: { endpoint, key: String(places.key), timeoutMs: Number(timeoutMs) },
    limits,
    servers,
  };
}

module.exports = { ConfigError, load, validate, parseAddr };
