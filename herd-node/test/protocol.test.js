'use strict';
// Table tests for lib/protocol.js and lib/config.js: the decisions docs/PROTOCOL.md records.

const test = require('node:test');
const assert = require('node:assert/strict');
const p = require('../lib/protocol');
const config = require('../lib/config');

test('lines end at LF or CRLF and the cap holds before the newline', () => {
  const buf = new p.LineBuffer(8);
  buf.extend(Buffer.from('a\r\nb\n\r\nhalf'));
  assert.deepEqual([buf.nextLine(), buf.nextLine(), buf.nextLine()].map(String), ['a', 'b', '']);
  assert.equal(buf.nextLine(), null);
  buf.extend(Buffer.from('way\n'));
  assert.equal(String(buf.nextLine()), 'halfway');
  const long = new p.LineBuffer(4);
  long.extend(Buffer.from('123456'));
  assert.throws(() => long.nextLine(), p.LineTooLong);
  const exact = new p.LineBuffer(4);
  exact.extend(Buffer.from('1234\r\n'));
  assert.equal(String(exact.nextLine()), '1234');
});

test('invalid lines are refused', () => {
  const lines = [
    'iamat kiwi +34-118 1', 'IAMAT kiwi +34-118', 'IAMAT kiwi 34.1-118 1', 'IAMAT kiwi +91-118 1',
    'IAMAT kiwi +90.1-118 1', 'IAMAT kiwi +34-181 1', 'IAMAT kiwi +034-118 1', 'IAMAT kiwi +34.-118 1',
    'IAMAT kiwi +34-118 1e9', 'IAMAT kiwi +34-118 -5', 'IAMAT kiwi +34-118 1.1234567890',
    'IAMAT kiwi +34-118 18446744073709551616', 'WHATSAT kiwi 0 5', 'WHATSAT kiwi 0.000 5',
    'WHATSAT kiwi 50.01 5', 'WHATSAT kiwi 10 0', 'WHATSAT kiwi 10 21', 'WHATSAT kiwi 10 +5',
    'AT Clark +0.000000000 k +1+1 1', 'IAMAT ki\0wi +34-118 1', 'IAMAT k\u0085 +1+1 1',
    'IAMAT k\u000b +1+1 1', 'HELLO a', 'BOGUS',
  ].map((s) => Buffer.from(s));
  lines.push(Buffer.from([0x49, 0x20, 0xff, 0xfe]));
  for (const line of lines) assert.throws(() => p.parseCommand(line), p.Invalid, String(line));
});

test('valid lines parse into exact values', () => {
  assert.equal(p.parseCommand(Buffer.from(' \t ')), null);
  const cmd = p.parseCommand(Buffer.from('  IAMAT\tkiwi   +90-180.000 1621464827.959498503 '));
  assert.equal(cmd.time, 1621464827959498503n);
  assert.equal(cmd.query, '90,-180.000');
  assert.deepEqual(p.parseCommand(Buffer.from('WHATSAT k\u00e9 0.5 020')), { verb: 'WHATSAT', client: 'k\u00e9', metres: '500', bound: 20 });
  for (const [km, metres] of [['5', '5000'], ['0.5', '500'], ['50.000', '50000'], ['0.0001', '0.1'], ['1.23456', '1234.56'], ['007', '7000']]) {
    assert.equal(p.radiusMetres(km), metres, km);
  }
});

test('skews are exact with a sign and nine digits', () => {
  for (const [nanos, text] of [[0n, '+0.000000000'], [263873386n, '+0.263873386'], [-12000n, '-0.000012000'], [5000000001n, '+5.000000001']]) {
    assert.equal(p.formatSkew(nanos), text);
  }
  const cmd = p.parseCommand(Buffer.from('IAMAT c +1+1 1'));
  assert.equal(String(p.recordFromIamat('Clark', 1000000005n, cmd).wire), 'AT Clark +0.000000005 c +1+1 1\n');
});

test('the longest AT line is longer than the client cap and within the peer cap', () => {
  // A cap-sized IAMAT with the largest time, from a server with the longest name whose clock
  // reads 10**19 s before the epoch.
  const time = '18446744073709551615.999999999';
  const fixed = `IAMAT  +90-180 ${time}`.length;
  const line = Buffer.from(`IAMAT ${'k'.repeat(p.MAX_LINE_BYTES - fixed)} +90-180 ${time}`);
  assert.equal(line.length, p.MAX_LINE_BYTES);
  const rec = p.recordFromIamat('S'.repeat(p.MAX_SERVER_NAME_BYTES), -(10n ** 28n), p.parseCommand(line));
  const at = rec.wire.subarray(0, rec.wire.length - 1);
  assert.ok(at.length > p.MAX_LINE_BYTES);
  assert.ok(at.length <= p.MAX_PEER_LINE_BYTES);
  assert.deepEqual(p.parseRecord(at).wire, rec.wire);
  const link = new p.LineBuffer(p.MAX_PEER_LINE_BYTES);
  link.extend(Buffer.concat([rec.wire, Buffer.alloc(p.MAX_PEER_LINE_BYTES + 2, 'x')]));
  assert.deepEqual(link.nextLine(), at);
  assert.throws(() => link.nextLine(), p.LineTooLong);
});

test('peer records are canonical and checked', () => {
  const rec = p.parseRecord(Buffer.from('AT  Clark\t+0.000000001 c +1.5-2 7'));
  assert.equal(String(rec.wire), 'AT Clark +0.000000001 c +1.5-2 7\n');
  assert.equal(rec.query, '1.5,-2');
  for (const bad of ['AT Clark 0.000000001 c +1+1 7', 'AT Clark +0.1 c +1+1 7', 'AT Clark +0.000000001 c +1+1']) {
    assert.throws(() => p.parseRecord(Buffer.from(bad)), p.Invalid);
  }
});

test('places requests and replies', () => {
  const e = p.endpointOf('http://127.0.0.1/api/');
  assert.deepEqual(e, { host: '127.0.0.1', port: 80, authority: '127.0.0.1:80', prefix: '/api' });
  assert.equal(p.placesPath(e.prefix, "k y&'", '34.1,-118', '500'), "/api/maps/api/place/nearbysearch/json?location=34.1%2C-118&radius=500&key=k%20y%26%27");
  assert.throws(() => p.endpointOf('https://x'));
  assert.deepEqual(p.jsonFor(200, Buffer.from('{"results": [1, 2, 3], "status": "OK"}'), 2), { results: [1, 2], status: 'OK' });
  const denied = p.jsonFor(403, Buffer.from('{"results": [], "status": "REQUEST_DENIED", "error_message": "no"}'), 5);
  assert.deepEqual([denied.status, denied.error_message], ['REQUEST_DENIED', 'no']);
  assert.equal(p.jsonFor(200, Buffer.from('[1]'), 5).status, 'UNKNOWN_ERROR');
  assert.equal(p.jsonFor(500, Buffer.from('oops'), 5).error_message, 'places service answered HTTP 500');
  const reply = String(p.whatsatReply(Buffer.from('AT x\n'), { a: 'two\n\nlines' }));
  assert.ok(reply.endsWith('}\n\n'));
  assert.equal(reply.split('\n\n').length, 2);
});

test('config: symmetric links, distinct addresses, http endpoint, default limits', () => {
  const herd = () => ({
    herd: { key: 'k' },
    places: { base_url: 'http://127.0.0.1:9', key: 'p' },
    server: [
      { name: 'A', addr: '127.0.0.1:12001', neighbours: ['B'] },
      { name: 'B', addr: '127.0.0.1:12002', neighbours: ['A'] },
    ],
  });
  const ok = config.validate(herd(), 't');
  assert.equal(ok.limits.peer_queue, 65536);
  assert.deepEqual(ok.servers.get('B').addr, { host: '127.0.0.1', port: 12002 });
  assert.equal(ok.antiEntropy, true);
  const off = herd();
  off.herd.anti_entropy = false;
  assert.equal(config.validate(off, 't').antiEntropy, false);
  const cases = [
    [(d) => { d.server[1].neighbours = []; }, /one-sided/],
    [(d) => { d.server[1].addr = '127.0.0.1:12001'; }, /already used/],
    [(d) => { d.server[1].name = 'A'; }, /defined twice/],
    [(d) => { d.server[1].name = '\u00e9'.repeat(128); d.server[0].neighbours = [d.server[1].name]; }, /1-255 bytes/],
    [(d) => { d.places.base_url = 'https://x'; }, /http:\/\//],
    [(d) => { d.server[0].neighbours.push('Z'); }, /not a server/],
    [(d) => { d.limits = { extra: 1 }; }, /unknown/],
    [(d) => { d.herd.other = 1; }, /unknown/],
    [(d) => { d.herd.anti_entropy = 'no'; }, /true or false/],
  ];
  for (const [change, message] of cases) {
    const doc = herd();
    change(doc);
    assert.throws(() => config.validate(doc, 't'), message);
  }
});
