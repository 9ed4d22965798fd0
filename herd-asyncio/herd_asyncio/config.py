"""The herd config (TOML, read with the standard library's tomllib) and its validation.

The same rules as the Rust core's `config.rs`: symmetric links between known servers,
distinct non-zero ports, an `http://` places endpoint, default limits, no unknown keys.
tomllib gives no positions, so errors name the file and the server, not the line.
"""

import ipaddress
import tomllib

from .protocol import MAX_SERVER_NAME_BYTES, endpoint_of

DEFAULT_LIMITS = {"max_clients": 1_000_000, "max_connections": 20_000, "peer_queue": 65_536}


class ConfigError(Exception):
    pass


def _table(doc, key, source, allowed, required):
    table = doc.get(key)
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: missing [{key}] table")
    unknown = set(table) - set(allowed)
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) in [{key}]: {', '.join(sorted(unknown))}")
    for name in required:
        if name not in table:
            raise ConfigError(f"{source}: [{key}] needs `{name}`")
    return table


def parse_addr(text):
    """`ip:port` (IPv6 in brackets) as (host, port); raises ValueError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(text)
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError(text)
        ipaddress.IPv6Address(host[1:-1])
        host = host[1:-1]
    else:
        ipaddress.IPv4Address(host)
    return host, int(port)


def _valid_name(name):
    return 0 < len(name.encode()) <= MAX_SERVER_NAME_BYTES and not any(c.isspace() or not c.isprintable() for c in name)


def load(path):
    """Reads and validates a herd config file; returns a plain dict."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    return validate(doc, str(path))


def validate(doc, source):
    unknown = set(doc) - {"herd", "places", "limits", "server"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level field(s): {', '.join(sorted(unknown))}")
    herd = _table(doc, "herd", source, ["key", "anti_entropy"], ["key"])
    anti_entropy = herd.get("anti_entropy", True)
    if not isinstance(anti_entropy, bool):
        raise ConfigError(f"{source}: anti_entropy must be true or false")
    places = _table(doc, "places", source, ["base_url", "key", "timeout_ms"], ["base_url", "key"])
    limits = dict(DEFAULT_LIMITS)
    if "limits" in doc:
        limits.update(_table(doc, "limits", source, list(DEFAULT_LIMITS), []))
    for name, value in list(limits.items()) + [("timeout_ms", places.get("timeout_ms", 5000))]:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{source}: {name} must be a non-negative integer")
    raw = doc.get("server", [])
    if not raw:
        raise ConfigError(f"{source}: no [[server]] entries: a herd needs at least one server")
    servers, addrs = {}, {}
    for s in raw:
        if not isinstance(s, dict) or set(s) - {"name", "addr", "neighbours"}:
            raise ConfigError(f"{source}: a [[server]] may have only name, addr, neighbours")
        name = s.get("name")
        if not isinstance(name, str) or not _valid_name(name):
            raise ConfigError(
                f"{source}: server name {name!r} must be 1-{MAX_SERVER_NAME_BYTES} bytes with no whitespace or control characters"
            )
        if name in servers:
            raise ConfigError(f"{source}: server {name!r} is defined twice")
        try:
            addr = parse_addr(s.get("addr", ""))
        except (ValueError, TypeError, AttributeError):
            raise ConfigError(
                f"{source}: server {name!r}: addr {s.get('addr')!r} is not ip:port (e.g. 127.0.0.1:12000)"
            ) from None
        if addr in addrs:
            raise ConfigError(f"{source}: server {name!r} uses {s['addr']}, already used by {addrs[addr]!r}")
        if addr[1] == 0:
            raise ConfigError(f"{source}: server {name!r} needs a fixed port, not 0")
        addrs[addr] = name
        servers[name] = {"name": name, "addr": addr, "neighbours": list(s.get("neighbours", []))}
    for name, s in servers.items():
        seen = set()
        for n in s["neighbours"]:
            if n not in servers:
                raise ConfigError(
                    f"{source}: server {name!r} lists neighbour {n!r}, which is not a server of this herd"
                )
            if n == name:
                raise ConfigError(f"{source}: server {name!r} lists itself as a neighbour")
            if n in seen:
                raise ConfigError(f"{source}: server {name!r} lists {n!r} twice")
            seen.add(n)
            if name not in servers[n]["neighbours"]:
                raise ConfigError(
                    f"{source}: link {name!r} -> {n!r} is one-sided: add {name!r} to the neighbours of {n!r}"
                )
    try:
        endpoint = endpoint_of(places["base_url"])
    except ValueError as e:
        raise ConfigError(f"{source}: {e}") from None
    return {
        "key": herd["key"],
        # Off only in fault tests that prove the lost-update checker can fail.
        "anti_entropy": anti_entropy,
        "places": {
            "endpoint": endpoint,
            "key": places["key"],
            "timeout_ms": places.get("timeout_ms", 5000),
        },
        "limits": limits,
        "servers": servers,
    }
