#!/usr/bin/env python3
"""Entry point: `python3 herd-asyncio/herd.py --config FILE --name SERVER [--loop uvloop]`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from herd_asyncio.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
