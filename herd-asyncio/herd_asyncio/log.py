"""The server log: `<unix time> <server> <event>` lines, buffered, flushed every second."""

import os
import time

from .protocol import format_time

BUFFER_BYTES = 64 * 1024


class Log:
    """Callers test `enabled` before building a message, so a run with --no-log pays nothing."""

    def __init__(self, server, log_dir=None):
        self.server = server
        self.enabled = log_dir is not None
        self.file = None
        if self.enabled:
            os.makedirs(log_dir, exist_ok=True)
            path = os.path.join(log_dir, f"{server}.log")
            self.file = open(path, "a", buffering=BUFFER_BYTES, encoding="utf-8")

    def event(self, text):
        if self.file is not None:
            self.file.write(f"{format_time(time.time_ns())} {self.server} {text}\n")

    def flush(self):
        if self.file is not None:
            self.file.flush()

    def flush_every_second(self, loop):
        """Keeps a quiet server's last lines from sitting in the buffer."""
        if self.file is not None:
            self.flush()
            loop.call_later(1.0, self.flush_every_second, loop)
