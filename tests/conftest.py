"""Shared fixtures: the official vectors and small builders for signed requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "samples"
VECTORS_FILE = ROOT / "vectors.json"


def load_vectors() -> dict[str, Any]:
    """The official signature and AES vectors (copied from shared/protocol/vectors.json)."""
    return json.loads(VECTORS_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return load_vectors()
