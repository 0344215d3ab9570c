"""`wxhook healthcheck`: ask the callback listener the config describes for /healthz, as a
container's HEALTHCHECK does, so that the probe follows server.host and server.port."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request

from .configfile import add_config_option, load


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wxhook healthcheck`."""
    add_config_option(parser)
    parser.add_argument(
        "--timeout", type=float, default=3.0, help="seconds to wait for the answer (default 3)"
    )
    parser.set_defaults(func=cmd_healthcheck)


def probe_url(host: str, port: int) -> str:
    """http://HOST:PORT/healthz, a wildcard host probed on loopback of its family (as
    `wxhook send` picks the server's address)."""
    from ..sender import callback_url

    return callback_url(None, host=host, port=port, path="/healthz")


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 if /healthz answers 200 within --timeout, else say why and exit 1."""
    config = load(args)
    url = probe_url(config.server.host, config.server.port)
    try:
        # probe_url builds an http:// URL from the config, never a caller-given scheme.
        with urllib.request.urlopen(url, timeout=args.timeout) as answer:  # noqa: S310
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"wxhook: {url}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"wxhook: {url}: HTTP {status}", file=sys.stderr)
        return 1
    print(f"{url}: healthy")
    return 0
