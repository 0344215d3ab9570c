"""The seed catalogue (seed_catalogue.txt) that the event classes follow, read once for the tests."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEXT = (HERE / "seed_catalogue.txt").read_text(encoding="utf-8")

# The catalogue names UserScanProductVerifyActionEvent's event "user_scan_product_async", a
# copy-paste slip in its source; WeChat sends user_scan_product_verify_action.
EVENT_ERRATA = {"UserScanProductVerifyActionEvent": "user_scan_product_verify_action"}


def catalogue() -> dict[str, dict[str, str]]:
    """class name -> {attribute: description} as the seed lists them."""
    classes: dict[str, dict[str, str]] = {}
    blocks = re.split(r"^class wechatpy\.events\.(\w+)\(message\).*$", TEXT, flags=re.M)
    for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        lines = [line for line in lines if not line.endswith("#")]  # the next section's heading
        start = next(i for i, line in enumerate(lines) if line in ("value", "参数")) + 1
        rows = lines[start:]
        classes[name] = dict(zip(rows[0::2], rows[1::2], strict=False))
    return classes


CATALOGUE = catalogue()
