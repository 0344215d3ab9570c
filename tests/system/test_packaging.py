"""What `pip install wxhook` gives: pure Python, with defusedxml as the XML guard."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import wxhook

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "text.xml"


def test_the_distribution_requires_defusedxml_and_no_second_http_server():
    names = {
        re.split(r"[ ;<>=!~\[]", requirement, maxsplit=1)[0].lower()
        for requirement in importlib.metadata.requires("wxhook") or []
        if "extra ==" not in requirement
    }
    assert "defusedxml" in names
    assert "aiohttp" in names and "httptools" not in names  # aiohttp is the only HTTP server


def test_decoding_a_push_goes_through_defusedxml():
    # A fresh interpreter: decode a sample push, then show that the reader which refuses a
    # DOCTYPE is defusedxml's.
    code = f"""
import sys
from pathlib import Path
from wxhook.core import ParseError, parse_message, parse_xml
message = parse_message(parse_xml(Path({str(SAMPLE)!r}).read_bytes()))
assert message.type == "text", message
assert "defusedxml" in sys.modules
from defusedxml import DTDForbidden
try:
    parse_xml(b"<!DOCTYPE xml><xml/>")
except ParseError as exc:
    assert isinstance(exc.__cause__, DTDForbidden), repr(exc.__cause__)
print("ok")
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


def test_the_package_holds_no_compiled_extension():
    package = Path(wxhook.__file__).parent
    assert (package / "core" / "xmlcodec.py").is_file()  # the directory really is the package
    compiled = [p for p in package.rglob("*") if p.suffix in (".so", ".pyd", ".c")]
    assert compiled == []
