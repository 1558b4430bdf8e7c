"""docs/paper.md maps the paper's equations to code: every `misgan.…` name it gives must import."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "paper.md"
NAME = re.compile(r"`(misgan(?:\.[A-Za-z_]\w*)+)")


def resolve(dotted: str) -> object:
    """The object a dotted name denotes: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def names() -> list[str]:
    return sorted(set(NAME.findall(PAGE.read_text(encoding="utf-8"))))


def test_the_page_names_code():
    found = names()
    assert len(found) > 30
    assert "misgan.gan.losses.gan_losses" in found and "misgan.alignment.adapter.stage1_losses" in found


@pytest.mark.parametrize("dotted", names())
def test_every_named_function_imports(dotted):
    assert resolve(dotted) is not None


def test_every_equation_row_names_a_function():
    rows = [line for line in PAGE.read_text(encoding="utf-8").splitlines() if re.match(r"\| \d+ \|", line)]
    numbers = sorted(int(line.split("|")[1]) for line in rows)
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    for line in rows:
        assert NAME.search(line), line
