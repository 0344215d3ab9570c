"""wxhook as users run it (`wxhook serve`), with the benchmark's config and plugin.

Usage: python bench/servers/wxhook_server.py CONFIG [asyncio|uvloop]
"""

from __future__ import annotations

import os
import sys

from common import use_loop

import wxhook
from wxhook.cli import main

if __name__ == "__main__":
    use_loop(sys.argv[2] if len(sys.argv) > 2 else "asyncio")
    print(f"wxhook from {os.path.dirname(wxhook.__file__)}", file=sys.stderr, flush=True)
    # The plugin module sits beside this file.
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(["serve", "--config", sys.argv[1]]) or 0)
