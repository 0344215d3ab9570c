"""`wxhook send` against a real `wxhook serve` process: every push type, in every mode."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import free_port, start_serve
from helpers import ACCOUNTS, KEY, keys

from wxhook import sender
from wxhook.catalogue import TYPES

PLUGIN = textwrap.dedent(
    """
    import itertools
    import wxhook

    router = wxhook.Router()
    runs = itertools.count(1)

    @router.on(wxhook.BaseMessage)
    async def name_the_class(message, ctx):
        # Which class the server parsed the push into, and how many handler runs so far; then
        # the text of a text message and the key of an event that has one.
        said = getattr(message, "content", None) or getattr(message, "key", None)
        return f"{type(message).__name__} {ctx.account} run {next(runs)}" + (
            f" | {said}" if isinstance(said, str) and said else ""
        )
    """
)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    dir: Path

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}{ACCOUNTS[mode]['path']}"


# An account that checks the addressee: `wxhook send --config` must address pushes to it.
ORIGINAL_ID_ACCOUNT = {
    "name": "origacct",
    "path": "/orig",
    "token": "tok-orig",
    "original_id": "gh_ours",
}


def write_config(tmp: Path, port: int) -> None:
    accounts = "".join(
        "[[accounts]]\n" + "".join(f'{k} = "{v}"\n' for k, v in a.items())
        for a in [*ACCOUNTS.values(), ORIGINAL_ID_ACCOUNT]
    )
    (tmp / "config.toml").write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n[plugins]\nmodules = ["sendplugin"]\n'
        + accounts
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("send")
    port = free_port()
    (tmp / "sendplugin.py").write_text(PLUGIN)
    write_config(tmp, port)
    proc = start_serve(tmp, port)
    yield Server(proc, port, tmp)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


_keys = {mode: keys(mode) for mode in ACCOUNTS}


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
def test_every_type_reaches_its_class_in_every_mode(server: Server, mode: str):
    account = ACCOUNTS[mode]["name"]
    for i, (name, push_type) in enumerate(TYPES.items()):
        # Events dedup on sender + CreateTime (+ Event, EventKey, ...): one sender per push, so
        # pushes of one second (device_text and device_status carry no Event) stay distinct.
        push = sender.build(_keys[mode], server.url(mode), name, user=f"o{mode}{i}")
        assert push.encrypted == (mode != "plain")
        answer = sender.post(push)
        assert answer.status == 200, name
        content = answer.reply.get("Content", "")
        assert isinstance(content, str)
        assert content.startswith(f"{push_type.cls.__name__} {account} run "), (name, content)
        assert (answer.body.startswith(b"<xml><Encrypt>")) == (mode != "plain"), name


def run_cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wxhook", "send", *args],
        cwd=server.dir,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_takes_the_account_from_the_config_and_decrypts_the_reply(server: Server):
    out = run_cli(server, "subscribe_scan", "--config", "config.toml", "--account", "safeacct",
                  "--from", "oCONFIG")  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == (
        f"POST {server.url('safe')}: subscribe_scan (SubscribeScanEvent), safe mode, encrypted"
    )
    assert lines[1].startswith("200 OK in ") and lines[1].endswith(" ms: text reply")
    reply = json.loads("\n".join(lines[2:]))
    assert reply["Content"].startswith("SubscribeScanEvent safeacct run ")
    assert reply["ToUserName"] == "oCONFIG"


def test_cli_with_url_and_keys_fields_and_sender(server: Server):
    out = run_cli(
        server,
        "subscribe",
        "--url", server.url("compatible"),
        "--token", "tok-compat",
        "--app-id", ACCOUNTS["compatible"]["app_id"],
        "--aes-key", KEY,
        "--mode", "compatible",
        "--field", "EventKey=qrscene_42",
        "--from", "oSENDER",
        "--show-request",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "<EventKey><![CDATA[qrscene_42]]></EventKey>" in out.stdout
    assert "<FromUserName><![CDATA[oSENDER]]></FromUserName>" in out.stdout
    assert '"Content": "SubscribeScanEvent compatacct run ' in out.stdout
    assert '"ToUserName": "oSENDER"' in out.stdout


def test_retry_resends_the_same_request_and_gets_the_first_reply(server: Server):
    out = run_cli(server, "CLICK", "--config", "config.toml", "--account", "safeacct",
                  "--retry-delays", "0.1,0.2")  # implies --retry  # fmt: skip
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout.split("\n", 2)[2].split("\nretry 1")[0])["Content"]
    assert out.stdout.count("the same reply as the first delivery") == 2
    assert "retry 1 after 0.1 s, same query and body: 200 OK" in out.stdout
    assert "retry 2 after 0.2 s, same query and body: 200 OK" in out.stdout
    # The handler ran once for the three deliveries: the next push gets the next run number.
    run = int(first.split(" run ", 1)[1].split()[0])
    again = sender.post(sender.build(_keys["safe"], server.url("safe"), "text"))
    assert str(again.reply["Content"]).startswith(f"TextMessage safeacct run {run + 1} ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--token", "wrong-token"], "wxhook send: refused: 403 Forbidden from {url}: signature"),
        (["--token", "tok-safe", "--mode", "plain"], "wxhook send: refused: 403 Forbidden from {url}: unencrypted"),
    ],
)  # fmt: skip
def test_refused_request_exits_1_with_one_line(server: Server, args: list[str], expected: str):
    out = run_cli(server, "text", "--url", server.url("safe"), *args)
    assert out.returncode == 1
    assert out.stderr.strip() == expected.format(url=server.url("safe"))


def test_connection_refused_exits_1_with_one_line(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}/wechat"
    out = subprocess.run(
        [sys.executable, "-m", "wxhook", "send", "text", "--url", url, "--token", "t"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.startswith(f"wxhook send: cannot connect to {url}: ")
    assert len(out.stderr.strip().splitlines()) == 1


def test_list_names_every_type_and_bad_names_exit_2():
    out = subprocess.run([sys.executable, "-m", "wxhook", "send", "--list"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0
    assert [line.split()[0] for line in out.stdout.splitlines()] == list(TYPES)
    bad = subprocess.run(
        [sys.executable, "-m", "wxhook", "send", "clik", "--url", "http://x/", "--token", "t"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("wxhook send: unknown push type 'clik': did you mean click")
    assert len(bad.stderr.splitlines()) == 1


def test_callback_url_from_server_settings():
    assert sender.callback_url(None, host="0.0.0.0", port=8080, path="/wechat") == (
        "http://127.0.0.1:8080/wechat"
    )
    assert sender.callback_url(None, host="::", port=80, path="/w") == "http://[::1]:80/w"
    assert sender.callback_url("http://h:1", path="/wechat") == "http://h:1/wechat"
    assert sender.callback_url("http://h:1/other", path="/wechat") == "http://h:1/other"
    with pytest.raises(ValueError, match="http"):
        sender.callback_url("ftp://h/", path="/w")


def test_retry_delays_default_to_wechats_and_are_checked():
    assert sender.parse_delays("5,10") == sender.DEFAULT_RETRY_DELAYS
    with pytest.raises(ValueError, match="negative"):
        sender.parse_delays("-1")


def test_pushes_are_addressed_to_the_accounts_original_id():
    from wxhook.core import AccountKeys, decode

    k = AccountKeys.create(
        token="t", app_id="wx1", encoding_aes_key=KEY, mode="safe", original_id="gh_ours"
    )
    push = sender.build(k, "http://127.0.0.1:1/wechat", "CLICK")
    assert decode(k, push.query, push.body).message.target == "gh_ours"  # accepted as ours


def test_retry_delays_must_be_finite():
    for bad in ("nan", "inf", "-1"):
        with pytest.raises(ValueError, match="finite and not negative"):
            sender.parse_delays(bad)


def test_cli_addresses_pushes_to_the_configured_original_id(server: Server):
    out = run_cli(server, "CLICK", "--config", "config.toml", "--account", "origacct")
    assert out.returncode == 0, out.stderr  # refused as `addressee` (403) if sent to another id
    assert "origacct run" in out.stdout


# What `wxhook simulate` did before `send` took it over: the GET URL verification, a text with
# its content, an event with its key, a document from a file, an account by name, a base URL.


def test_verify_gets_the_echostr_back(server: Server):
    out = run_cli(server, "--verify", "12345", "--config", "config.toml", "--account", "safeacct")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"GET {server.url('safe')}: URL verification, echostr 12345"
    assert lines[1].startswith("200 OK in ") and lines[1].endswith(" ms: echostr sent back")


def test_verify_without_echostr_sends_a_random_one_to_the_first_account(server: Server):
    out = run_cli(server, "--verify", "--config", "config.toml", "--show-request")
    assert out.returncode == 0, out.stderr
    signed, announced, answered = out.stdout.splitlines()
    echostr = announced.rsplit(" ", 1)[1]
    assert echostr.isdigit()
    assert signed.startswith(f"{server.url('plain')}?signature=") and f"echostr={echostr}" in signed
    assert answered.endswith("echostr sent back")


def test_verify_with_a_wrong_token_is_refused(server: Server):
    out = run_cli(server, "--verify", "1", "--url", server.url("plain"), "--token", "wrong")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f"wxhook send: refused: 403 Forbidden from {server.url('plain')}: invalid signature"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "wxhook send: give a push TYPE (see --list), --file PATH, or --verify [ECHOSTR]"),
        (["text", "--verify"], "wxhook send: give a push TYPE (see --list), --file PATH, or --verify [ECHOSTR]"),
        (["--verify", "--field", "Content=x"], "wxhook send: --field: only for a push, not with --verify"),
        (["--verify", "--retry"], "wxhook send: --retry: only for a push, not with --verify"),
    ],
)  # fmt: skip
def test_what_to_send_is_exactly_one_thing(server: Server, args: list[str], expected: str):
    out = run_cli(server, *args, "--config", "config.toml")
    assert out.returncode == 2
    assert out.stderr.strip() == expected


def test_text_with_its_content(server: Server):
    out = run_cli(server, "text", "--field", "Content=你好", "--config", "config.toml",
                  "--account", "compatacct")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert (
        "POST " + server.url("compatible") + ": text (TextMessage), compatible mode" in out.stdout
    )
    reply = json.loads(out.stdout.split("\n", 2)[2])
    assert reply["Content"].startswith("TextMessage compatacct run ")
    assert reply["Content"].endswith(" | 你好")


def test_event_with_its_key(server: Server):
    out = run_cli(server, "CLICK", "--field", "EventKey=MENU_ORDER", "--config", "config.toml",
                  "--account", "plainacct")  # fmt: skip
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout.split("\n", 2)[2])
    assert reply["Content"].startswith("ClickEvent plainacct run ")
    assert reply["Content"].endswith(" | MENU_ORDER")


def test_document_from_a_file(server: Server, tmp_path: Path):
    from wxhook.simulator import message

    document = tmp_path / "push.xml"
    document.write_bytes(message("text", Content="from file", MsgId="77"))
    out = run_cli(server, "--file", str(document), "--config", "config.toml",
                  "--account", "safeacct")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"POST {server.url('safe')}: document, safe mode, encrypted")
    reply = json.loads(out.stdout.split("\n", 2)[2])
    assert reply["Content"].startswith("TextMessage safeacct run ")
    assert reply["Content"].endswith(" | from file")


def test_a_base_url_gets_the_accounts_path(server: Server):
    base = f"http://127.0.0.1:{server.port}"
    out = run_cli(server, "subscribe", "--config", "config.toml", "--account", "safeacct",
                  "--url", base)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"POST {server.url('safe')}: subscribe (SubscribeEvent)")
    assert '"Content": "SubscribeEvent safeacct run ' in out.stdout


def test_an_unknown_account_is_a_config_error(server: Server):
    out = run_cli(server, "text", "--config", "config.toml", "--account", "nosuch")
    assert out.returncode == 2
    assert out.stderr.strip() == (
        "wxhook: config error: --account 'nosuch': no such account "
        "(plainacct, compatacct, safeacct, origacct)"
    )
