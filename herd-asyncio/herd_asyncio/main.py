"""Flags, config, and the event loop: the same flags as the Rust backends."""

import argparse
import asyncio
import signal
import sys

from . import config as herd_config
from .accept import Acceptor, listen
from .log import Log
from .server import Node, _addr, dial, Conn


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="herd-asyncio",
        description="One server of the herd, on one asyncio event loop.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the herd's TOML config")
    p.add_argument("--name", required=True, metavar="SERVER", help="which server this is")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="recorded only: asyncio runs one event loop on one thread",
    )
    logs = p.add_mutually_exclusive_group()
    logs.add_argument("--log-dir", default="logs", metavar="DIR", help="log folder (default: logs)")
    logs.add_argument("--no-log", action="store_true", help="run without a log file")
    p.add_argument(
        "--loop",
        choices=["asyncio", "uvloop"],
        default="asyncio",
        help="event loop implementation (uvloop must be installed)",
    )
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    return args


async def serve(node, host, port):
    loop = asyncio.get_running_loop()
    try:
        sock = listen(host, port, backlog=1024)
    except OSError as e:
        raise SystemExit(
            f"error: cannot listen on {_addr((host, port))} for {node.name}: {e.strerror} "
            "(is another server already using it?)"
        ) from None
    acceptor = Acceptor(sock, lambda: Conn(node), node.log)
    acceptor.start()
    addr = _addr(sock.getsockname())
    node.log.event(f"listening on {addr}")
    print(f"listening on {addr}", flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    dialling = [loop.create_task(dial(node, peer, addr)) for peer, addr in node.dials()]
    node.log.flush_every_second(loop)
    await stop
    for task in dialling:
        task.cancel()
    acceptor.close()


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        config = herd_config.load(args.config)
    except herd_config.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.name not in config["servers"]:
        names = ", ".join(config["servers"])
        print(
            f"error: {args.config}: no server named {args.name!r}; pass --name with one of: {names}",
            file=sys.stderr,
        )
        return 2
    try:
        log = Log(args.name, None if args.no_log else args.log_dir)
    except OSError as e:
        print(f"error: cannot open log in {args.log_dir}: {e} (use --no-log to run without)",
              file=sys.stderr)
        return 2
    node = Node(config, args.name, log)
    host, port = config["servers"][args.name]["addr"]
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            print("error: --loop uvloop needs the uvloop package (see herd-uvloop/backend.toml)",
                  file=sys.stderr)
            return 2
        runner = uvloop.run
    else:
        runner = asyncio.run
    try:
        runner(serve(node, host, port))
    finally:
        log.event("stopped")
        log.flush()
    return 0
