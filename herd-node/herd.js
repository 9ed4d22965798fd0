#!/usr/bin/env node
'use strict';
// One server of the herd in Node.js: `node herd-node/herd.js --config FILE --name SERVER`.
// The same flags as the Rust backends; --threads is recorded only (one event loop).

const net = require('node:net');
const { parseArgs } = require('node:util');
const config = require('./lib/config');
const { Log } = require('./lib/log');
const { Node, Conn, dial, showAddr } = require('./lib/server');
const { keepListening, RESOURCE_PAUSE_MS } = require('./lib/listen');

const USAGE = `usage: herd.js --config FILE --name SERVER [--threads N] [--log-dir DIR | --no-log]

  --config FILE    the herd's TOML config
  --name SERVER    which server of the herd this process is
  --threads N      recorded only: Node.js runs one event loop on one thread
  --log-dir DIR    write DIR/<SERVER>.log (default: logs)
  --no-log         run without a log file`;

function fail(message) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

/** Wall-clock time in BigInt nanoseconds: the wall clock at start plus the monotonic clock. */
function makeClock() {
  const wallAtStart = BigInt(Date.now()) * 1_000_000n;
  const monoAtStart = process.hrtime.bigint();
  return () => wallAtStart + (process.hrtime.bigint() - monoAtStart);
}

function main() {
  let args;
  try {
    ({ values: args } = parseArgs({
      options: {
        config: { type: 'string' },
        name: { type: 'string' },
        threads: { type: 'string' },
        'log-dir': { type: 'string' },
        'no-log': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    fail(`${e.message}\n${USAGE}`);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!args.config || !args.name) fail(`--config and --name are required\n${USAGE}`);
  if (args.threads !== undefined && !/^[1-9][0-9]*$/.test(args.threads)) fail('--threads must be a positive integer');
  if (args['no-log'] && args['log-dir'] !== undefined) fail('--log-dir and --no-log exclude each other');
  let herd;
  try {
    herd = config.load(args.config);
  } catch (e) {
    if (!(e instanceof config.ConfigError)) throw e;
    fail(e.message);
  }
  const me = herd.servers.get(args.name);
  if (!me) fail(`${args.config}: no server named ${JSON.stringify(args.name)}; pass --name with one of: ${[...herd.servers.keys()].join(', ')}`);
  const clock = makeClock();
  let log;
  try {
    log = new Log(args.name, args['no-log'] ? null : (args['log-dir'] ?? 'logs'), clock);
  } catch (e) {
    fail(`cannot open log in ${args['log-dir'] ?? 'logs'}: ${e.message} (use --no-log to run without)`);
  }
  const node = new Node(herd, args.name, log, clock);
  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
    new Conn(node, socket).accept();
  });
  keepListening(server, { host: me.addr.host, port: me.addr.port, backlog: 1024 }, {
    onListening: ({ address, port }) => {
      const addr = showAddr(address, port);
      log.event(`listening on ${addr}`);
      process.stdout.write(`listening on ${addr}\n`);
      for (const [peer, peerAddr] of node.dials()) dial(node, peer, peerAddr);
    },
    onFail: (e) => fail(`cannot listen on ${showAddr(me.addr.host, me.addr.port)} for ${args.name}: ${e.message} (is another server already using it?)`),
    onPause: (e) => log.event(`accept failed: ${e.message}; listening again in ${RESOURCE_PAUSE_MS} ms`),
  });
  const stop = () => {
    log.event('stopped');
    log.flush();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
