"""docs/reference.md is generated from the classes and cannot drift; every attribute means something."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from seed import CATALOGUE

import wxhook.core as core
from wxhook.catalogue import TYPES, xml_fields
from wxhook.reference import generate

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"


def test_committed_reference_is_what_the_code_generates():
    assert REFERENCE.read_text(encoding="utf-8") == generate(), (
        "docs/reference.md is out of date: run `wxhook reference --output docs/reference.md`"
    )


def test_every_class_and_attribute_is_in_the_reference():
    text = generate()
    for t in TYPES.values():
        assert f"\n### {t.cls.__name__}\n" in text
        for f in xml_fields(t.cls):
            assert f"| `{f.name}` |" in text, f"{t.cls.__name__}.{f.name}"


@pytest.mark.parametrize("name", list(TYPES))
def test_every_attribute_says_what_it_means(name):
    for f in xml_fields(TYPES[name].cls):
        assert len(f.metadata["doc"]) > 3, f"{name}.{f.name} has no doc="


def doc_of(cls: type, attr: str) -> str:
    member = inspect.getattr_static(cls, attr, None)
    if isinstance(member, property):
        return inspect.getdoc(member) or ""
    return next(f.metadata["doc"] for f in xml_fields(cls) if f.name == attr)


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_seed_meanings_are_in_the_code(name):
    cls = getattr(core, name)
    for attr, meaning in CATALOGUE[name].items():
        if attr != "event":
            assert meaning in doc_of(cls, attr), f"{name}.{attr}: {meaning}"


def test_check_option_finds_a_stale_file(tmp_path: Path):
    stale = tmp_path / "reference.md"
    stale.write_text("old\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "wxhook", "reference", "--check", "--output", str(stale)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == f"{stale} is out of date: run `wxhook reference --output {stale}`"
    written = subprocess.run(
        [sys.executable, "-m", "wxhook.reference", "--output", str(stale)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert written.returncode == 0
    assert subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0
