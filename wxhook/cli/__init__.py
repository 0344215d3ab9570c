"""The `wxhook` command: serve, check-config, healthcheck, failures (list, replay), send,
reference.

Each command lives in its own module with its options (`add_arguments`) and its body; this one
builds the parser from them and turns the errors a user can fix into one line and an exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

from ..config import ConfigError
from ..stores import StoreUnavailable
from . import check, failures, healthcheck, send, serve
from .configfile import DEFAULT_CONFIG, redacted, store_summary
from .serve import ListenError

__all__ = ["DEFAULT_CONFIG", "build_parser", "main", "redacted", "store_summary"]


def cmd_reference(args: argparse.Namespace) -> int:
    """Write (or check) the message and event reference generated from the registry."""
    from .. import reference

    return reference.run(args)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept separate so the README's command list can be checked)."""
    parser = argparse.ArgumentParser(
        prog="wxhook", description="Callback server for WeChat Official Accounts."
    )
    parser.add_argument("--version", action="version", version=f"wxhook {version('wxhook')}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_arguments(commands.add_parser("serve", help="run the callback server"))
    check.add_arguments(
        commands.add_parser("check-config", help="validate the config and plugins, then exit")
    )
    healthcheck.add_arguments(
        commands.add_parser(
            "healthcheck", help="probe /healthz on the configured callback port (exit 0 or 1)"
        )
    )
    failures.add_arguments(
        commands.add_parser(
            "failures", help="list failure records, or replay them through the handlers"
        )
    )
    send.add_arguments(
        commands.add_parser(
            "send",
            help="send a push of any type (signed, encrypted per the mode), or the URL "
            "verification, to a running server",
            description=send.DESCRIPTION,
        )
    )
    from ..reference import add_arguments as add_reference_arguments

    reference = commands.add_parser(
        "reference", help="generate the message and event reference (docs/reference.md)"
    )
    add_reference_arguments(reference)
    reference.set_defaults(func=cmd_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wxhook` console script and `python -m wxhook`."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"wxhook: config error: {exc}", file=sys.stderr)
        return 2
    except StoreUnavailable as exc:
        print(f"wxhook: the store is unreachable: {exc}", file=sys.stderr)
        return 1
    except ListenError as exc:
        print(f"wxhook: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
