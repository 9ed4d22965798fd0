"""The herd protocol in plain Python: lines, commands, records and the places reply.

Pure functions and small value classes, no sockets and no clock (the receive time is an
argument), so the tests in ../tests exercise every decision without a server. Each rule
here mirrors one in the Rust core (`protocol/`) and docs/PROTOCOL.md; the conformance
suite is what holds the two to the same behaviour.
"""

import json
import re
from urllib.parse import quote

MAX_LINE_BYTES = 65_536
# A peer link carries AT lines, which are longer than the IAMAT they came from by the
# server name (at most MAX_SERVER_NAME_BYTES) and the skew (at most MAX_SKEW_BYTES), less
# one byte: the link must take every record its server accepted (docs/PROTOCOL.md, Lines).
MAX_SERVER_NAME_BYTES = 255
MAX_SKEW_BYTES = 1 + 21 + 1 + 9
MAX_PEER_LINE_BYTES = MAX_LINE_BYTES + MAX_SERVER_NAME_BYTES + MAX_SKEW_BYTES
MAX_BODY_BYTES = 4 * 1024 * 1024
NANOS_PER_SEC = 1_000_000_000
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1

BUSY_REPLY = b"! server busy: connection limit reached\n"
NEARBY_PATH = "/maps/api/place/nearbysearch/json"

# A line may hold tab but no other C0 control byte, nor DEL.
_CONTROL_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Rust's char::is_control beyond ASCII: the C1 controls.
_C1_CONTROL = re.compile("[\x80-\x9f]")
_FIELD_SEP = re.compile("[ \t]+")
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?\Z")
_COORDINATE = r"([+-])([0-9]+)(?:\.([0-9]+))?"
_LOCATION = re.compile(_COORDINATE + _COORDINATE + r"\Z")
_SKEW = re.compile(r"[+-][0-9]+\.[0-9]{9}\Z")
_BOUND = re.compile(r"[0-9]+\Z")


class Invalid(Exception):
    """A line that is not a valid command; the client gets `? <line>`."""


class LineTooLong(Exception):
    """A line over MAX_LINE_BYTES: its connection is closed."""


class LineBuffer:
    """Splits a byte stream into lines; `\\r\\n` and `\\n` both end one."""

    __slots__ = ("buf", "start", "limit")

    def __init__(self, limit=MAX_LINE_BYTES):
        self.buf = bytearray()
        self.start = 0
        self.limit = limit

    def extend(self, data):
        if self.start and self.start * 2 >= len(self.buf):
            del self.buf[: self.start]
            self.start = 0
        self.buf += data

    def next_line(self):
        """The next complete line without its terminator, or None; raises LineTooLong."""
        buf = self.buf
        end = buf.find(b"\n", self.start)
        if end < 0:
            if len(buf) - self.start > self.limit + 1:
                raise LineTooLong()
            return None
        stop = end - 1 if end > self.start and buf[end - 1] == 0x0D else end
        if stop - self.start > self.limit:
            raise LineTooLong()
        line = bytes(buf[self.start : stop])
        self.start = end + 1
        return line

    def pending(self):
        return len(self.buf) - self.start

    def take_pending(self):
        rest = bytes(self.buf[self.start :])
        self.buf = bytearray()
        self.start = 0
        return rest


def fields_of(line):
    """Decodes a line and splits it on spaces and tabs; raises Invalid on forbidden bytes."""
    if _CONTROL_BYTE.search(line):
        raise Invalid("line holds a NUL or control byte")
    try:
        text = line.decode()
    except UnicodeDecodeError:
        raise Invalid("line is not UTF-8") from None
    if text.isascii():
        # Every other ASCII whitespace byte was refused above as a control byte.
        return text.split()
    if _C1_CONTROL.search(text):
        raise Invalid("line holds a control character")
    return [f for f in _FIELD_SEP.split(text) if f]


def _within(int_part, frac, maximum):
    value = int(int_part)
    return value < maximum or (value == maximum and frac.strip("0") == "")


def check_location(text):
    """Validates an ISO 6709 location; returns the places query value `lat,lng`."""
    m = _LOCATION.match(text)
    if not m:
        raise Invalid("bad location")
    lat_sign, lat_int, lat_frac, lng_sign, lng_int, lng_frac = m.groups("")
    if len(lat_int) > 2 or not _within(lat_int, lat_frac, 90):
        raise Invalid("latitude must be within [-90, 90] with 1-2 integer digits")
    if len(lng_int) > 3 or not _within(lng_int, lng_frac, 180):
        raise Invalid("longitude must be within [-180, 180] with 1-3 integer digits")
    split = m.start(4)
    lat, lng = text[:split], text[split:]
    return lat.lstrip("+") + "," + lng.lstrip("+")


def client_time_nanos(text):
    """POSIX seconds with up to nine fractional digits, as exact integer nanoseconds."""
    m = _DECIMAL.match(text)
    if not m:
        raise Invalid("bad client time")
    secs, frac = m.group(1), m.group(2) or ""
    if len(frac) > 9:
        raise Invalid("at most nine fractional digits")
    seconds = int(secs)
    if seconds > U64_MAX:
        raise Invalid("seconds out of range")
    return seconds * NANOS_PER_SEC + (int(frac.ljust(9, "0")) if frac else 0)


def radius_metres(text):
    """A radius in km (0 < r <= 50) as exact decimal metres text, e.g. `0.5` -> `500`."""
    m = _DECIMAL.match(text)
    if not m:
        raise Invalid("bad radius")
    int_part, frac = m.group(1), m.group(2) or ""
    if int_part.strip("0") == "" and frac.strip("0") == "":
        raise Invalid("radius must be greater than 0")
    if not _within(int_part, frac, 50):
        raise Invalid("radius must be at most 50 km")
    digits = (int_part + frac).ljust(len(int_part) + 3, "0")
    whole = digits[: len(int_part) + 3].lstrip("0") or "0"
    rest = digits[len(int_part) + 3 :].rstrip("0")
    return whole + "." + rest if rest else whole


def parse_bound(text):
    if not _BOUND.match(text):
        raise Invalid("bound must be an integer")
    n = int(text)
    if n > U32_MAX or not 1 <= n <= 20:
        raise Invalid("bound must be from 1 to 20")
    return n


def format_skew(nanos):
    sign = "-" if nanos < 0 else "+"
    secs, frac = divmod(abs(nanos), NANOS_PER_SEC)
    return f"{sign}{secs}.{frac:09d}"


def format_time(nanos):
    """Integer nanoseconds as `secs.fraction` (nine digits), as the logs print time."""
    secs, frac = divmod(nanos, NANOS_PER_SEC)
    return f"{secs}.{frac:09d}"


class Record:
    """A stored location: the AT line as sent on the wire, its client time and query."""

    __slots__ = ("wire", "client", "time", "query")

    def __init__(self, wire, client, time, query):
        self.wire = wire
        self.client = client
        self.time = time
        self.query = query


def parse_command(line):
    """A client line as a tuple (IAMAT/WHATSAT/HELLO, fields...) or None for a blank line.

    IAMAT gives (verb, client, location, time text, time nanos, query);
    WHATSAT gives (verb, client, radius metres, bound); HELLO gives (verb, server, key).
    """
    f = fields_of(line)
    if not f:
        return None
    verb = f[0]
    if verb == "IAMAT":
        if len(f) != 4:
            raise Invalid("IAMAT takes 4 fields")
        query = check_location(f[2])
        return ("IAMAT", f[1], f[2], f[3], client_time_nanos(f[3]), query)
    if verb == "WHATSAT":
        if len(f) != 4:
            raise Invalid("WHATSAT takes 4 fields")
        return ("WHATSAT", f[1], radius_metres(f[2]), parse_bound(f[3]))
    if verb == "HELLO":
        if len(f) != 3:
            raise Invalid("HELLO takes 3 fields")
        return ("HELLO", f[1], f[2])
    if verb == "AT":
        raise Invalid("AT lines come only from peer servers")
    raise Invalid("unknown verb")


def record_from_iamat(server, received, client, location, time_text, nanos, query):
    skew = format_skew(received - nanos)
    wire = f"AT {server} {skew} {client} {location} {time_text}\n".encode()
    return Record(wire, client, nanos, query)


def parse_record(line):
    """An AT line from a peer, stored in canonical form (fields joined by one space)."""
    f = fields_of(line)
    if len(f) != 6 or f[0] != "AT":
        raise Invalid("AT takes 6 fields")
    if not _SKEW.match(f[2]):
        raise Invalid("bad skew")
    query = check_location(f[4])
    nanos = client_time_nanos(f[5])
    return Record((" ".join(f) + "\n").encode(), f[3], nanos, query)


def invalid_reply(line):
    return b"? " + line + b"\n"


def hello_line(server, key):
    return f"HELLO {server} {key}\n".encode()


# The places endpoint ----------------------------------------------------------------


def endpoint_of(base_url):
    """(host, port, authority, path prefix) of an `http://` base URL; raises ValueError."""
    if not base_url.startswith("http://"):
        raise ValueError(f"places.base_url {base_url!r} must start with http://")
    rest = base_url[len("http://") :]
    slash = rest.find("/")
    authority, prefix = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    if not authority or any(c in authority for c in "@?# "):
        raise ValueError(f"places.base_url {base_url!r} has no usable host")
    host, _, port = authority.rpartition(":")
    if host and port.isdigit() and int(port) <= 65535:
        port = int(port)
    else:
        host, port = authority, 80
        authority += ":80"
    return host.strip("[]"), port, authority, prefix.rstrip("/")


def places_request(authority, prefix, key, query, metres):
    return (
        f"GET {prefix}{NEARBY_PATH}?location={quote(query, safe='')}&radius={metres}"
        f"&key={quote(key, safe='')} HTTP/1.1\r\nHost: {authority}\r\n"
        "Accept: application/json\r\nConnection: keep-alive\r\n\r\n"
    ).encode()


class PlacesFailure(Exception):
    """A places call that gave no usable HTTP response; `retryable` on a reused connection."""

    def __init__(self, message, retryable=False):
        super().__init__(message)
        self.retryable = retryable


def unreachable(error):
    return PlacesFailure(f"places service unreachable: {error}", retryable=True)


TRUNCATED = "places service closed the connection before a full response"


def timed_out(timeout_ms):
    shown = f"{timeout_ms // 1000}s" if timeout_ms % 1000 == 0 else f"{timeout_ms}ms"
    return PlacesFailure(f"places service did not answer within {shown}")


def error_json(status, message):
    return {"html_attributions": [], "results": [], "status": status, "error_message": message}


def json_for(status, body, bound):
    """The WHATSAT JSON for an HTTP response (status, body bytes), results cut to bound."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict):
        parsed = None
    upstream = parsed.get("status") if parsed is not None else None
    if not isinstance(upstream, str):
        upstream = None
    if status == 200 and upstream is not None and isinstance(parsed.get("results"), list):
        del parsed["results"][bound:]
        return parsed
    if parsed is not None and upstream is not None and upstream != "OK":
        message = parsed.get("error_message")
        if not isinstance(message, str):
            message = f"places service answered HTTP {status}"
        return error_json(upstream, message)
    if status == 200:
        return error_json("UNKNOWN_ERROR", "places service answered with unexpected JSON")
    return error_json("UNKNOWN_ERROR", f"places service answered HTTP {status}")


def whatsat_reply(at_wire, body_json):
    """The stored AT line, the pretty JSON, and the blank line that ends a reply."""
    text = json.dumps(body_json, indent=2, ensure_ascii=False)
    return at_wire + text.encode() + b"\n\n"


class ResponseReader:
    """Incremental HTTP/1.1 response parser: Content-Length, chunked, or until close."""

    __slots__ = ("buf", "status", "mode", "length", "keep_alive", "body_start")

    def __init__(self):
        self.buf = bytearray()
        self.status = None

    def feed(self, data):
        """Returns (status, body, keep_alive) once complete, else None; raises PlacesFailure."""
        self.buf += data
        if len(self.buf) > MAX_BODY_BYTES + 64 * 1024:
            raise PlacesFailure(f"places response body larger than {MAX_BODY_BYTES} bytes")
        if self.status is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return None
            self._head(bytes(self.buf[:end]).decode("latin-1"), end + 4)
        return self._complete()

    def _head(self, head, body_start):
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.0", "HTTP/1.1") or not (
            len(parts[1]) == 3 and parts[1].isdigit()
        ):
            raise PlacesFailure("places service sent a malformed HTTP response: status line")
        status = int(parts[1])
        headers = {}
        for h in header_lines:
            name, colon, value = h.partition(":")
            if not colon or not name or name != name.strip():
                raise PlacesFailure("places service sent a malformed HTTP response: header")
            headers.setdefault(name.lower(), value.strip().lower())
        if headers.get("transfer-encoding", "").endswith("chunked"):
            self.mode = "chunked"
        elif "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit():
                raise PlacesFailure(
                    f"places service sent a malformed HTTP response: bad Content-Length {length!r}"
                )
            if int(length) > MAX_BODY_BYTES:
                raise PlacesFailure(f"places response body larger than {MAX_BODY_BYTES} bytes")
            self.mode, self.length = "length", int(length)
        elif status in (204, 304) or 100 <= status < 200:
            self.mode, self.length = "length", 0
        else:
            self.mode = "close"
        close = "close" in headers.get("connection", "")
        self.keep_alive = not close and parts[0] == "HTTP/1.1" and self.mode != "close"
        self.status, self.body_start = status, body_start

    def _complete(self):
        data = self.buf[self.body_start :]
        if self.mode == "length":
            if len(data) < self.length:
                return None
            return self.status, bytes(data[: self.length]), self.keep_alive
        if self.mode == "chunked":
            body = _dechunk(data)
            return None if body is None else (self.status, body, self.keep_alive)
        return None

    def finish_at_eof(self):
        if self.status is not None and self.mode == "close":
            return self.status, bytes(self.buf[self.body_start :]), False
        raise PlacesFailure(TRUNCATED, retryable=True)


def _dechunk(data):
    body = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_text = bytes(data[pos:eol]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise PlacesFailure(
                "places service sent a malformed HTTP response: bad chunk size"
            ) from None
        pos = eol + 2
        if size == 0:
            # Trailers (if any) end with a blank line.
            if data[pos : pos + 2] == b"\r\n" or data.find(b"\r\n\r\n", pos) >= 0:
                return bytes(body)
            return None
        if len(body) + size > MAX_BODY_BYTES:
            raise PlacesFailure(f"places response body larger than {MAX_BODY_BYTES} bytes")
        if len(data) < pos + size + 2:
            return None
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise PlacesFailure(
                "places service sent a malformed HTTP response: chunk not followed by CRLF"
            )
        body += data[pos : pos + size]
        pos += size + 2


def escape(data):
    """A line for the log: bytes decoded leniently, controls and quotes escaped."""
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    if text.isprintable() and "\\" not in text and '"' not in text and "'" not in text:
        return text
    out = []
    for c in text:
        if c in "\\'\"":
            out.append("\\" + c)
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == "\n":
            out.append("\\n")
        elif not c.isprintable():
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return "".join(out)
