"""Wait until a URL answers 200: `python scripts/wait_http.py URL --pid N`.

With `--tcp HOST:PORT` (repeatable) those ports must accept connections too.
Exits 0 once all is up, 1 when the deadline passes or the process `--pid`
exits first. Uses only the standard library.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
import urllib.error
import urllib.request

_RETRY_INTERVAL = 0.2


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def _accepts(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    """Poll until everything asked for is up; 0 when it was in time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--tcp", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds")
    parser.add_argument("--pid", type=int, help="fail early when this process exits")
    args = parser.parse_args()

    deadline = time.monotonic() + args.deadline
    waiting_for = "nothing yet"
    while time.monotonic() < deadline:
        if args.pid is not None and not _alive(args.pid):
            print(
                f"process {args.pid} exited before everything was up", file=sys.stderr
            )
            return 1
        closed = [address for address in args.tcp if not _accepts(address)]
        status = _status(args.url)
        if not closed and status == 200:
            return 0
        waiting_for = (
            f"no listener on {', '.join(closed)}"
            if closed
            else f"{args.url} answered {status}"
        )
        time.sleep(_RETRY_INTERVAL)

    print(f"not up within {args.deadline:g}s: {waiting_for}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
