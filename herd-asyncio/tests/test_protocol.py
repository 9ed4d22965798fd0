"""Table tests for herd_asyncio.protocol: the decisions docs/PROTOCOL.md records."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from herd_asyncio import config, protocol as p  # noqa: E402
from herd_asyncio.server import reconnect_delay_ms  # noqa: E402


class Lines(unittest.TestCase):
    def test_crlf_lf_and_partial_lines(self):
        buf = p.LineBuffer(limit=8)
        buf.extend(b"a\r\nb\n\r\nhalf")
        self.assertEqual([buf.next_line(), buf.next_line(), buf.next_line()], [b"a", b"b", b""])
        self.assertIsNone(buf.next_line())
        buf.extend(b"way\n")
        self.assertEqual(buf.next_line(), b"halfway")

    def test_over_the_cap_is_an_error_even_before_its_newline(self):
        buf = p.LineBuffer(limit=4)
        buf.extend(b"12345\r\n")
        with self.assertRaises(p.LineTooLong):
            buf.next_line()
        buf = p.LineBuffer(limit=4)
        buf.extend(b"123456")
        with self.assertRaises(p.LineTooLong):
            buf.next_line()
        buf = p.LineBuffer(limit=4)
        buf.extend(b"1234\r\n")
        self.assertEqual(buf.next_line(), b"1234")


class Commands(unittest.TestCase):
    def test_invalid_lines(self):
        for line in [
            b"iamat kiwi +34-118 1", b"IAMAT kiwi +34-118", b"IAMAT kiwi 34.1-118 1",
            b"IAMAT kiwi +91-118 1", b"IAMAT kiwi +90.1-118 1", b"IAMAT kiwi +34-181 1",
            b"IAMAT kiwi +034-118 1", b"IAMAT kiwi +34.-118 1", b"IAMAT kiwi +34-118 1e9",
            b"IAMAT kiwi +34-118 -5", b"IAMAT kiwi +34-118 1.1234567890",
            b"IAMAT kiwi +34-118 18446744073709551616", b"WHATSAT kiwi 0 5",
            b"WHATSAT kiwi 0.000 5", b"WHATSAT kiwi 50.01 5", b"WHATSAT kiwi 10 0",
            b"WHATSAT kiwi 10 21", b"WHATSAT kiwi 10 +5", b"AT Clark +0.000000000 k +1+1 1",
            b"IAMAT ki\0wi +34-118 1", b"IAMAT \xff\xfe +34-118 1", b"IAMAT k\xc2\x85 +1+1 1",
            b"IAMAT k\x0b +1+1 1", b"HELLO a", b"BOGUS",
        ]:
            with self.subTest(line=line), self.assertRaises(p.Invalid):
                p.parse_command(line)

    def test_valid_lines(self):
        self.assertIsNone(p.parse_command(b" \t "))
        cmd = p.parse_command(b"  IAMAT\tkiwi   +90-180.000 1621464827.959498503 ")
        self.assertEqual(cmd[:4], ("IAMAT", "kiwi", "+90-180.000", "1621464827.959498503"))
        self.assertEqual(cmd[4], 1621464827_959498503)
        self.assertEqual(cmd[5], "90,-180.000")
        self.assertEqual(p.parse_command(b"WHATSAT k\xc3\xa9 0.5 020"), ("WHATSAT", "k\u00e9", "500", 20))
        self.assertEqual(p.parse_command(b"HELLO Clark key"), ("HELLO", "Clark", "key"))

    def test_radius_in_exact_metres(self):
        for km, metres in [("5", "5000"), ("0.5", "500"), ("50", "50000"), ("50.000", "50000"),
                           ("0.0001", "0.1"), ("1.23456", "1234.56"), ("007", "7000")]:
            self.assertEqual(p.radius_metres(km), metres, km)

    def test_skew_is_exact_with_sign_and_nine_digits(self):
        for nanos, text in [(0, "+0.000000000"), (263_873_386, "+0.263873386"),
                            (-12_000, "-0.000012000"), (5 * 10**9 + 1, "+5.000000001")]:
            self.assertEqual(p.format_skew(nanos), text)
        rec = p.record_from_iamat("Clark", 10**9 + 5, "c", "+1+1", "1", 10**9, "1,1")
        self.assertEqual(rec.wire, b"AT Clark +0.000000005 c +1+1 1\n")

    def test_the_longest_at_line_fits_the_peer_cap(self):
        # A cap-sized IAMAT with the largest time, from a server with the longest name whose
        # clock reads 10**19 s before the epoch: longer than the client cap, within the peer cap.
        time_text = f"{p.U64_MAX}.999999999"
        fixed = len(f"IAMAT  +90-180 {time_text}")
        client = "k" * (p.MAX_LINE_BYTES - fixed)
        line = f"IAMAT {client} +90-180 {time_text}".encode()
        self.assertEqual(len(line), p.MAX_LINE_BYTES)
        _, c, loc, text, nanos, query = p.parse_command(line)
        server = "S" * p.MAX_SERVER_NAME_BYTES
        rec = p.record_from_iamat(server, -(10**28), c, loc, text, nanos, query)
        at = rec.wire[:-1]
        self.assertGreater(len(at), p.MAX_LINE_BYTES)
        self.assertLessEqual(len(at), p.MAX_PEER_LINE_BYTES)
        self.assertEqual(p.parse_record(at).wire, rec.wire)
        link = p.LineBuffer(p.MAX_PEER_LINE_BYTES)
        link.extend(rec.wire + b"x" * (p.MAX_PEER_LINE_BYTES + 2))
        self.assertEqual(link.next_line(), at)
        with self.assertRaises(p.LineTooLong):
            link.next_line()

    def test_peer_records_are_canonical_and_checked(self):
        rec = p.parse_record(b"AT  Clark\t+0.000000001 c +1.5-2 7")
        self.assertEqual(rec.wire, b"AT Clark +0.000000001 c +1.5-2 7\n")
        self.assertEqual((rec.client, rec.time, rec.query), ("c", 7 * 10**9, "1.5,-2"))
        for bad in [b"AT Clark 0.000000001 c +1+1 7", b"AT Clark +0.1 c +1+1 7", b"AT Clark +0.000000001 c +1+1"]:
            with self.assertRaises(p.Invalid):
                p.parse_record(bad)


class Places(unittest.TestCase):
    def test_request_encodes_query_values(self):
        host, port, authority, prefix = p.endpoint_of("http://127.0.0.1/api/")
        self.assertEqual((host, port, authority, prefix), ("127.0.0.1", 80, "127.0.0.1:80", "/api"))
        req = p.places_request(authority, prefix, "k y&", "34.1,-118", "500")
        self.assertTrue(req.startswith(
            b"GET /api/maps/api/place/nearbysearch/json?location=34.1%2C-118&radius=500&key=k%20y%26 HTTP/1.1\r\n"
            b"Host: 127.0.0.1:80\r\n"))
        with self.assertRaises(ValueError):
            p.endpoint_of("https://x")

    def test_json_for_trims_passes_status_and_reports_failures(self):
        body = b'{"results": [1, 2, 3], "status": "OK"}'
        self.assertEqual(p.json_for(200, body, 2), {"results": [1, 2], "status": "OK"})
        denied = p.json_for(403, b'{"results": [], "status": "REQUEST_DENIED", "error_message": "no"}', 5)
        self.assertEqual((denied["status"], denied["error_message"]), ("REQUEST_DENIED", "no"))
        self.assertEqual(p.json_for(200, b"[1]", 5)["status"], "UNKNOWN_ERROR")
        self.assertEqual(p.json_for(500, b"oops", 5)["error_message"], "places service answered HTTP 500")
        reply = p.whatsat_reply(b"AT x\n", {"a": "two\n\nlines"})
        self.assertTrue(reply.endswith(b"}\n\n"))
        self.assertEqual(reply.count(b"\n\n"), 1)

    def test_response_reader_lengths_chunks_and_eof(self):
        r = p.ResponseReader()
        self.assertIsNone(r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"))
        self.assertEqual(r.feed(b"cd"), (200, b"abcd", True))
        r = p.ResponseReader()
        chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        self.assertEqual(r.feed(chunked), (200, b"abc", True))
        r = p.ResponseReader()
        self.assertIsNone(r.feed(b"HTTP/1.0 200 OK\r\n\r\nuntil close"))
        self.assertEqual(r.finish_at_eof(), (200, b"until close", False))
        with self.assertRaises(p.PlacesFailure) as cut:
            p.ResponseReader().finish_at_eof()
        self.assertTrue(cut.exception.retryable)
        with self.assertRaises(p.PlacesFailure):
            p.ResponseReader().feed(b"SMTP ready\r\n\r\n")


class Config(unittest.TestCase):
    HERD = {
        "herd": {"key": "k"},
        "places": {"base_url": "http://127.0.0.1:9", "key": "p"},
        "server": [
            {"name": "A", "addr": "127.0.0.1:12001", "neighbours": ["B"]},
            {"name": "B", "addr": "127.0.0.1:12002", "neighbours": ["A"]},
        ],
    }

    def test_valid_herd_gets_default_limits(self):
        c = config.validate(self.HERD, "t")
        self.assertEqual(c["limits"]["peer_queue"], 65_536)
        self.assertEqual(c["servers"]["B"]["addr"], ("127.0.0.1", 12002))
        self.assertTrue(c["anti_entropy"])

    def test_anti_entropy_switch(self):
        import copy
        doc = copy.deepcopy(self.HERD)
        doc["herd"]["anti_entropy"] = False
        self.assertFalse(config.validate(doc, "t")["anti_entropy"])
        doc["herd"]["anti_entropy"] = "no"
        with self.assertRaisesRegex(config.ConfigError, "true or false"):
            config.validate(doc, "t")
        doc["herd"] = {"key": "k", "other": 1}
        with self.assertRaisesRegex(config.ConfigError, "unknown"):
            config.validate(doc, "t")

    def test_one_sided_links_duplicates_and_bad_urls_are_errors(self):
        import copy
        cases = [
            (lambda d: d["server"][1].update(neighbours=[]), "one-sided"),
            (lambda d: d["server"][1].update(addr="127.0.0.1:12001"), "already used"),
            (lambda d: d["server"][1].update(name="A"), "defined twice"),
            (lambda d: d["server"][1].update(name="\u00e9" * 128), "1-255 bytes"),
            (lambda d: d["places"].update(base_url="https://x"), "http://"),
            (lambda d: d["server"][0].update(neighbours=["B", "Z"]), "not a server"),
            (lambda d: d["limits"].update(extra=1) if "limits" in d else d.update(limits={"extra": 1}), "unknown"),
        ]
        for change, message in cases:
            doc = copy.deepcopy(self.HERD)
            change(doc)
            with self.subTest(message=message), self.assertRaisesRegex(config.ConfigError, message):
                config.validate(doc, "t")


class Backoff(unittest.TestCase):
    def test_doubles_then_caps(self):
        self.assertEqual([reconnect_delay_ms(a) for a in range(8)], [100, 200, 400, 800, 1600, 2000, 2000, 2000])


if __name__ == "__main__":
    unittest.main()
