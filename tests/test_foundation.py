"""Package-level behaviour: CLI root, lazy import, config plumbing, run folders."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from misgan import __version__
from misgan.cli import app
from misgan.config import load_config, load_yaml, save_yaml, to_dict
from misgan.errors import ConfigError
from misgan.runtime import JsonlLog, create_run_dir

runner = CliRunner()


def test_version_and_help():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"misgan {__version__}"
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0


def test_every_command_has_help():
    import typer.main

    group = typer.main.get_command(app)
    names = sorted(group.commands)
    for expected in ("manifest", "doctor", "extract", "import", "info", "encoders", "align", "gan"):
        assert expected in names
    for expected in ("augment", "report", "run", "demo"):
        assert expected in names
    for name in names:
        res = runner.invoke(app, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert "Usage" in res.output


def test_import_does_no_io_and_stays_light():
    # Importing the package must not pull torch/transformers or touch files beyond its own modules.
    code = (
        "import sys, builtins; opened = [];"
        "orig = builtins.open; builtins.open = lambda *a, **k: (opened.append(a[0]), orig(*a, **k))[1];"
        "import misgan; builtins.open = orig;"
        "heavy = [m for m in ('torch', 'transformers', 'pandas', 'zarr', 'h5py') if m in sys.modules];"
        "print(len(opened), heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0 []"


@dataclasses.dataclass(frozen=True)
class _Inner:
    x: int = 1


@dataclasses.dataclass(frozen=True)
class _Cfg:
    name: str = "a"
    dims: tuple[int, ...] = (1, 2)
    inner: _Inner = dataclasses.field(default_factory=_Inner)


def test_config_roundtrip_and_unknown_keys(tmp_path):
    cfg = _Cfg(name="b", dims=(3, 4), inner=_Inner(x=5))
    path = save_yaml(cfg, tmp_path / "c.yaml")
    back = load_config(_Cfg, path)
    assert back == cfg
    (tmp_path / "typo.yaml").write_text("nme: x\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown setting 'nme'; did you mean 'name'\?"):
        load_config(_Cfg, tmp_path / "typo.yaml")
    (tmp_path / "bad.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(tmp_path / "bad.yaml")


def test_run_dir_records_everything(tmp_path):
    run = create_run_dir(tmp_path, "r1", _Cfg(), seed=7, argv=["misgan", "gan", "--seed", "7"])
    assert load_yaml(run / "config.yaml") == to_dict(_Cfg())
    assert (run / "command.txt").read_text().strip() == "misgan gan --seed 7"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["seed"] == 7 and meta["versions"]["misgan"] == __version__
    log = JsonlLog(run / "log.jsonl")
    log.write({"epoch": 1, "loss": 0.5})
    log.write({"epoch": 2, "loss": 0.25})
    assert [r["loss"] for r in log.read()] == [0.5, 0.25]
