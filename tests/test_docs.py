"""The README and docs/ stay true to the code: every `misgan.…` name they give imports, every file path they
name exists, and every `misgan COMMAND --option` they show is a real command with real options.
(docs/api.md's examples are executed by tests/test_api.py; docs/paper.md's map by tests/test_paper_map.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from test_paper_map import resolve  # one resolver of dotted names for every docs test

from misgan.cli import app

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
DOTTED = re.compile(r"\bmisgan(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"\b(misgan/[\w/]+\.py|bench/\w+\.py|configs/[\w-]+\.yaml|tests/\w+\.py)\b")


def _names() -> list[tuple[str, str]]:
    out = set()
    for page in PAGES:
        for name in DOTTED.findall(page.read_text(encoding="utf-8")):
            out.add((page.name, name.rstrip(".")))
    return sorted(out)


def _paths() -> list[tuple[str, str]]:
    return sorted({(p.name, m) for p in PAGES for m in PATH.findall(p.read_text(encoding="utf-8"))})


def _command_lines() -> list[tuple[str, str]]:
    """`misgan …` lines inside fenced code blocks (bash/console), comments and continuations handled."""
    out = []
    for page in PAGES:
        blocks = re.findall(r"```(?:bash|console|sh|shell)?\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        for block in blocks:
            text = block.replace("\\\n", " ")
            for line in text.splitlines():
                line = line.split(" #", 1)[0].strip().removeprefix("$ ")
                for part in re.split(r"&&|;|\|", line):
                    part = part.strip()
                    if part.startswith("misgan "):
                        out.append((page.name, part))
    return sorted(set(out))


def test_pages_name_code():
    assert len(_names()) > 40 and len(_command_lines()) > 15


@pytest.mark.parametrize(("page", "dotted"), _names())
def test_every_dotted_name_imports(page, dotted):
    assert resolve(dotted) is not None, f"{page}: {dotted}"


@pytest.mark.parametrize(("page", "path"), _paths())
def test_every_named_file_exists(page, path):
    assert (ROOT / path).exists(), f"{page} names {path}, which does not exist"


@pytest.mark.parametrize(("page", "line"), _command_lines())
def test_every_command_line_is_a_real_command_with_real_options(page, line):
    group = typer.main.get_command(app)
    words = shlex.split(line.replace("<", "").replace(">", ""))[1:]
    if not words or words[0].startswith("-"):
        assert set(words) <= {"--help", "--version"}, f"{page}: {line}"
        return
    command = group.commands.get(words[0])  # typer vendors its own click: look the command up by name
    assert command is not None, f"{page}: no command {words[0]!r} in: {line}"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    used = {w.split("=", 1)[0] for w in words[1:] if w.startswith("--")}
    assert used <= known | {"--help"}, f"{page}: unknown option(s) {sorted(used - known)} in: {line}"


HUB_DOWNLOAD = re.compile(r"\b(?:hf|huggingface-cli) download\s+([\w.\-]+/[\w.\-]+)([^\n`]*)")
PINNED = re.compile(r"\b([\w.\-]+/[\w.\-]+)\s+(?:[^\n`]*?\s)?--revision[ =]([0-9a-f]{40})\b")


def test_every_quoted_revision_is_the_registrys_pin():
    """Docs that download or name a hub encoder at a commit give the commit misgan loads: a user following them
    fills the Hugging Face cache with exactly what extraction asks for (another commit fails the load)."""
    from misgan.features.encoders.registry import REVISIONS

    quoted = [(p.name, mid, rev) for p in PAGES for mid, rev in PINNED.findall(p.read_text(encoding="utf-8"))]
    assert len(quoted) >= 5  # docs/reproduce.md's setup block
    for page, mid, rev in quoted:
        assert mid in REVISIONS, f"{page}: {mid} --revision {rev}: not a registry id"
        assert rev == REVISIONS[mid], f"{page}: {mid} --revision {rev}, the registry pins {REVISIONS[mid]}"
    for page in PAGES:
        for mid, rest in HUB_DOWNLOAD.findall(page.read_text(encoding="utf-8")):
            assert "--revision" in rest, (
                f"{page.name}: downloads {mid} without --revision (its pin in the registry)"
            )
