"""`wxhook send`: play WeChat against a running server (a push of any type, or the GET URL
verification) and print what came back."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..core import AccountKeys
from .configfile import add_config_option, load, pick_account

DESCRIPTION = (
    "Play WeChat: build a realistic push of TYPE, sign it (and encrypt it in compatible and safe "
    "mode), POST it, print the status, the time taken and the reply, decrypted; or, with "
    "--verify, send the GET WeChat sends when the server URL is saved and check the echostr "
    "comes back. The account comes from --config (the server's file) or from --url/--token."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `wxhook send`."""
    parser.add_argument(
        "type", nargs="?", metavar="TYPE", help="e.g. text, subscribe, CLICK, subscribe_scan"
    )
    parser.add_argument("--list", action="store_true", help="list every TYPE and exit")
    parser.add_argument(
        "--verify",
        nargs="?",
        const="",
        metavar="ECHOSTR",
        help="send the GET URL verification instead of a push (default echostr: a random one)",
    )
    add_config_option(parser)
    parser.add_argument("--account", help="account name in the config (default: the first)")
    parser.add_argument(
        "--url", help="callback URL (default: from server.host/port and the account's path)"
    )
    parser.add_argument("--token", help="the account's Token (overrides the config)")
    parser.add_argument("--app-id", dest="app_id", help="the AppID (overrides the config)")
    parser.add_argument(
        "--aes-key", dest="aes_key", help="the EncodingAESKey (overrides the config)"
    )
    parser.add_argument(
        "--mode",
        choices=["plain", "compatible", "safe"],
        help="default: the account's, else safe with --aes-key, else plain",
    )
    parser.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set an XML element (A/B for nested ones); repeatable",
    )
    parser.add_argument(
        "--from",
        dest="user",
        default=None,
        metavar="OPENID",
        help="the sender's OpenID (FromUserName; default: an example OpenID)",
    )
    parser.add_argument("--file", metavar="PATH", help="send this XML document instead of a TYPE")
    parser.add_argument(
        "--retry",
        action="store_true",
        help="send the same request again after 5 s and 10 s, as WeChat retries",
    )
    parser.add_argument(
        "--retry-delays",
        default=None,
        metavar="S,S",
        help="seconds before each retry (default 5,10); implies --retry",
    )
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="S",
        help="keep trying to connect for S seconds (a server starting up)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for an answer (default 10)",
    )
    parser.add_argument(
        "--show-request",
        action="store_true",
        help="print the signed URL (and the plaintext push) first",
    )
    parser.set_defaults(func=cmd_send)


def account_keys_and_url(args: argparse.Namespace) -> tuple[AccountKeys, str]:
    """The account's keys and the callback URL: from the config, overridden by the options."""
    from .. import sender

    settings: dict[str, str] = {}
    path = host = ""
    port = 0
    if args.config or (args.token is None and args.url is None):
        config = load(args)
        account = pick_account(config, args.account)
        settings = {"token": account.token, "app_id": account.app_id}
        settings |= {"encoding_aes_key": account.encoding_aes_key, "mode": account.mode}
        settings["original_id"] = account.original_id  # pushes addressed to the account
        host, port, path = config.server.host, config.server.port, account.path
    given = (("token", args.token), ("app_id", args.app_id), ("encoding_aes_key", args.aes_key))
    settings |= {k: v for k, v in given if v is not None}
    mode = (
        args.mode
        or settings.get("mode")
        or ("safe" if settings.get("encoding_aes_key") else "plain")
    )
    keys = AccountKeys.create(
        token=settings.get("token", ""),
        app_id=settings.get("app_id", ""),
        encoding_aes_key=settings.get("encoding_aes_key", ""),
        mode=mode,  # type: ignore[arg-type]
        original_id=settings.get("original_id", ""),
    )
    return keys, sender.callback_url(args.url, host=host, port=port, path=path)


def check_what_to_send(args: argparse.Namespace) -> None:
    """Exactly one of TYPE, --file and --verify; push options only with a push."""
    given = [args.type is not None, args.file is not None, args.verify is not None]
    if sum(given) != 1:
        raise ValueError("give a push TYPE (see --list), --file PATH, or --verify [ECHOSTR]")
    if args.verify is not None:
        push_only = [("--field", args.field), ("--from", args.user), ("--retry", args.retry)]
        push_only.append(("--retry-delays", args.retry_delays))
        misplaced = [name for name, value in push_only if value]
        if misplaced:
            raise ValueError(f"{', '.join(misplaced)}: only for a push, not with --verify")


def cmd_send(args: argparse.Namespace) -> int:
    """Send one push of any type, or the URL verification, to a running server, as WeChat
    would; print the answer."""
    from .. import sender
    from ..core import ProtocolError

    if args.list:
        print(sender.listing())
        return 0
    try:
        check_what_to_send(args)
        keys, url = account_keys_and_url(args)
        prepare = prepare_verification if args.verify is not None else prepare_push
        send = prepare(args, keys, url)
    except (LookupError, ValueError, ProtocolError) as exc:
        print(f"wxhook send: {exc}", file=sys.stderr)
        return 2
    try:
        send()
    except sender.SendError as exc:
        print(f"wxhook send: {exc}", file=sys.stderr)
        return 1
    return 0


def prepare_push(args: argparse.Namespace, keys: AccountKeys, url: str) -> Callable[[], None]:
    """The push asked for, built and signed now (bad input is found before anything is sent)."""
    from .. import catalogue, sender

    push = sender.build(
        keys,
        url,
        args.type,
        document=sender.read_document(args.file) if args.file else None,
        user=args.user or catalogue.DEFAULT_USER,
        fields=sender.parse_fields(args.field),
    )
    retry = args.retry or args.retry_delays is not None
    delays = sender.parse_delays(args.retry_delays or "5,10") if retry else ()

    def send() -> None:
        if args.show_request:
            print(push.full_url())
            print(push.document.decode("utf-8", "replace"))
        sender.run(push, retry_delays=delays, wait=args.wait, timeout=args.timeout)

    return send


def prepare_verification(
    args: argparse.Namespace, keys: AccountKeys, url: str
) -> Callable[[], None]:
    """The GET URL verification, signed now."""
    from .. import sender

    verification = sender.verification(keys, url, args.verify or None)

    def send() -> None:
        if args.show_request:
            print(verification.full_url())
        sender.run_verification(verification, wait=args.wait, timeout=args.timeout)

    return send
