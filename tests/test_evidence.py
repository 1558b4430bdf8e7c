"""bench/evidence.py's quick path on a tiny synthetic cache: every row of the evidence table is produced."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from store_fixtures import make_feature_store

torch.set_num_threads(1)
SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "evidence.py"


def _load():
    spec = importlib.util.spec_from_file_location("evidence", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_quick_evidence_table_on_a_tiny_cache(tmp_path, capsys):
    from misgan.stats import holm

    ev = _load()
    make_feature_store(tmp_path / "tiny.zarr", n_speakers=4, per_class=6, da=12, dt=6, separable=True)
    out = tmp_path / "evidence.md"
    argv = ["--quick", "--caches", f"tiny={tmp_path / 'tiny.zarr'}", "--folds", "2", "--seeds", "3"]
    argv += ["--gan-epochs", "2", "--clf-epochs", "20", "--text-source", "", "--runs-root", str(tmp_path / "runs")]
    assert ev.main([*argv, "--out", str(out)]) == 0
    text = out.read_text()
    assert text in capsys.readouterr().out
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| tiny ")]
    methods = {(r[1], r[2]) for r in rows}
    for frac in ("0.25", "1"):
        for m in ("none", "noise", "mixup", "SMOTE", "class-conditional Gaussian", "label-only GAN",
                  "ours (paper settings, G from torch's init)", "ours (validation-gated)", "ours (on-manifold)",
                  "ours (default GanConfig.paper(): G's noise columns from the data)",
                  "logistic regression, same features and folds"):  # fmt: skip
            assert (frac, m) in methods
    assert ("1", "stage-1 head") in methods
    # paired units = folds x seeds; Holm across the augmenter rows of one fraction
    aug = [r for r in rows if r[1] == "1" and r[4] != "–"]
    assert aug and all(r[6] == "6" for r in aug)
    assert "full form" not in text  # the estimate is printed, not written into the table
    assert callable(holm)


def test_variants_select_the_augment_calls():
    ev = _load()
    names = lambda argv: [p or "base" for p, *_ in ev.variants(ev.parse([*argv, "--text-source", ""]))]  # noqa: E731
    assert names([]) == ["base", "default", "manifold", "mlp", "projection"]
    (default,) = ev.variants(ev.parse(["--variants", "default", "--text-source", ""]))
    assert default[2] == {}  # GanConfig() untouched: what `misgan gan` trains
    assert names(["--variants", "base,manifold"]) == ["base", "manifold"]
    (gated,) = ev.variants(ev.parse(["--variants", "gated"]))
    assert gated[0] == "gated" and gated[1] == ("none", "ours-gated") and gated[2] == ev.PAPER
    with pytest.raises(SystemExit, match="unknown --variants nope"):
        ev.variants(ev.parse(["--variants", "base,nope"]))
    # the gated call contributes only its gated row
    res = {"summary": {"fractions": {"1.0": {v: {"uar": {"mean": 0.5}, "n_units": 3} for v in gated[1]}}}}
    assert [r["method"] for r in ev.table_rows("x", "gated", res)] == ["ours-gated"]
