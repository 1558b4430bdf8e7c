"""Keyed run folders (misgan.runs) with stage 1 and stage 2 on a small synthetic cache: the cache stays
byte-identical, a matching key is reused, an interrupted run resumes per fold, gan finds its align run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from store_fixtures import make_align_run, make_feature_store

import misgan.alignment.run as align_run_mod
from misgan.alignment.config import AlignConfig, FinetuneConfig
from misgan.alignment.run import align, load_fold
from misgan.alignment.summary import format_summary
from misgan.errors import FoldError, StoreError
from misgan.features.store import open_store
from misgan.gan.config import GanConfig
from misgan.gan.run import generator_path, train_gan
from misgan.io import file_sha256
from misgan.run_lookup import describe_runs, list_runs
from misgan.runs import RunError, StageRun, run_key

torch.set_num_threads(1)
SMALL = AlignConfig(h_dim=8, shared_dim=4, epochs=3, batch_size=32, lr=1e-3, patience=5)
GAN = GanConfig(epochs=2, batch_size=32, min_steps=2, noise_dim=4, eval_rows=64)
FOLDS = [f"spk-spk{i:02d}" for i in range(4)]
REAL_TRAIN_FOLD = align_run_mod.train_fold


def _cache(name: str = "c.zarr") -> Path:
    make_feature_store(name, n_speakers=4, per_class=4, da=8, dt=6).close()
    return Path(name)


class Killed(Exception):
    """Stands in for a kill between two folds."""


def _hashes(path: Path) -> dict[str, str]:
    """sha256 of every file of a store (a Zarr folder, or an HDF5 file)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p.relative_to(path.parent)): file_sha256(p) for p in files}


def _counting(monkeypatch, fail_on: int | None = None) -> list[str]:
    """Replace stage 1's train_fold with one that records each fold it trains (and raises on call `fail_on`)."""
    real, trained = REAL_TRAIN_FOLD, []

    def train_fold(audio, text, y, fold, *args, **kwargs):
        if fail_on is not None and len(trained) + 1 == fail_on:
            raise Killed("killed on fold " + fold.name)
        trained.append(fold.name)
        return real(audio, text, y, fold, *args, **kwargs)

    monkeypatch.setattr(align_run_mod, "train_fold", train_fold)
    return trained


@pytest.mark.parametrize("name", ["c.zarr", "c.h5"])
def test_cache_bytes_unchanged_after_align_and_gan(name):
    cache = _cache(name)
    before = _hashes(cache)
    a = align(cache, SMALL)
    g = train_gan(cache, GAN)
    assert _hashes(cache) == before
    assert a.run_dir == Path("runs/c") / f"align-{a.key[:12]}" and g.run_dir.parent == Path("runs/c")
    assert not a.reused and a.summary["complete"] and sorted(StageRun.open(a.run_dir).folds()) == FOLDS
    for fold in FOLDS:
        assert generator_path(g.run_dir, fold).is_file()


def test_complete_store_refuses_writes():
    cache = _cache()
    store = open_store(cache)
    with pytest.raises(StoreError, match=r"c\.zarr: a complete feature cache is read-only"):
        store.update_attrs({"pipeline_folds": ["x"]})
    with pytest.raises(StoreError, match="read-only"):
        store.write_rows(0, {"audio": np.zeros((64, 8), np.float32)}, [""] * 64)
    assert not hasattr(store, "write_fold")
    store.close()


def test_second_align_is_reused_and_trains_nothing(monkeypatch):
    cache = _cache()
    first = align(cache, SMALL)
    lines: list[str] = []

    def boom(*args, **kwargs):
        raise AssertionError("a reused run must not train")

    monkeypatch.setattr(align_run_mod, "train_fold", boom)
    again = align(cache, SMALL, echo=lines.append)
    assert again.reused and again.key == first.key and again.run_dir == first.run_dir
    assert again.summary == first.summary
    assert len(lines) == 1 and "reusing" in lines[0] and first.key[:12] in lines[0]
    # the same config given an explicit folder that already holds it: reused as well
    assert align(cache, SMALL, run_dir=first.run_dir).reused


def test_output_settings_change_the_key_threads_and_fold_subsets_do_not():
    cache = _cache()
    fp = open_store(cache).fingerprint
    key = run_key("align", fp, SMALL)
    assert run_key("align", fp, AlignConfig(**{**SMALL.__dict__, "threads": 3, "folds": ("x",)})) == key
    assert run_key("align", fp, AlignConfig(**{**SMALL.__dict__, "h_dim": 6})) != key
    assert run_key("align", fp, AlignConfig(**{**SMALL.__dict__, "seed": 1})) != key
    assert run_key("align", "another cache", SMALL) != key
    # configs nested in a mapping (align + finetune) drop their NOT_IN_KEY fields too
    both = {"align": SMALL, "finetune": FinetuneConfig()}
    assert run_key("align", fp, both) == run_key("align", fp, {**both, "finetune": FinetuneConfig(device="cuda")})
    a = align(cache, SMALL)
    b = align(cache, AlignConfig(**{**SMALL.__dict__, "threads": 1}))
    assert b.reused and b.run_dir == a.run_dir
    c = align(cache, AlignConfig(**{**SMALL.__dict__, "h_dim": 6}))
    assert not c.reused and c.run_dir != a.run_dir and c.key != a.key
    assert load_fold(c.run_dir, FOLDS[0])[0]["h"].shape == (64, 6)


def test_interrupted_run_resumes_only_the_missing_folds_with_identical_results(monkeypatch):
    cache = _cache()
    whole = align(cache, SMALL, run_dir="whole")
    trained = _counting(monkeypatch, fail_on=3)
    with pytest.raises(Killed):
        align(cache, SMALL, run_dir="killed")
    assert trained == FOLDS[:2] and StageRun.open("killed").folds() == FOLDS[:2]
    assert not StageRun.open("killed").complete
    trained = _counting(monkeypatch)
    lines: list[str] = []
    resumed = align(cache, SMALL, run_dir="killed", echo=lines.append)
    assert trained == FOLDS[2:] and resumed.summary["complete"] and resumed.key == whole.key
    assert lines[0] == "align: resuming killed: 2 of 4 folds already done"
    assert [line.split(":")[0] for line in lines[1:]] == [f"align {f}" for f in FOLDS[2:]]
    assert all("UAR" in line and "%" in line and line.endswith(" s)") for line in lines[1:])
    for fold in FOLDS:
        (a, a_attrs), (b, b_attrs) = load_fold(whole.run_dir, fold), load_fold("killed", fold)
        assert sorted(a) == sorted(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
        assert a_attrs["fingerprint"] == b_attrs["fingerprint"] and a_attrs["baseline"] == b_attrs["baseline"]
    assert resumed.summary["mean_std"] == whole.summary["mean_std"]
    segments = [r for r in StageRun.open("killed").log.read() if r.get("event") == "segment"]
    assert [s["folds_done"] for s in segments] == [[], FOLDS[:2]]


def test_fold_subset_leaves_the_run_incomplete_until_every_fold_is_done(monkeypatch):
    cache = _cache()
    part = align(cache, AlignConfig(**{**SMALL.__dict__, "folds": (FOLDS[1],)}))
    assert not part.summary["complete"] and part.summary["folds_done"] == [FOLDS[1]]
    assert part.summary["folds_todo"] == [FOLDS[0], *FOLDS[2:]]
    assert "1 of 4 folds done" in format_summary(part.summary)
    assert not StageRun.open(part.run_dir).complete and not (part.run_dir / "summary.json").exists()
    with pytest.raises(RunError, match="run misgan align first"):
        train_gan(cache, GAN)  # an incomplete align run is not picked by default
    import misgan.data.folds

    def no_folds(*a, **k):
        raise AssertionError("a rerun of the same --fold subset must not make the folds again")

    with monkeypatch.context() as m:
        m.setattr(misgan.data.folds, "make_folds", no_folds)
        again = align(cache, AlignConfig(**{**SMALL.__dict__, "folds": (FOLDS[1],)}))
    assert again.run_dir == part.run_dir and again.summary["folds_todo"] == part.summary["folds_todo"]
    assert again.reused and not part.reused
    trained = _counting(monkeypatch)
    rest = align(cache, SMALL)
    assert rest.run_dir == part.run_dir and rest.summary["complete"]
    assert trained == [FOLDS[0], *FOLDS[2:]]
    with pytest.raises(FoldError, match="no fold"):
        align(cache, AlignConfig(**{**SMALL.__dict__, "folds": ("spk-nobody",)}))


def test_gan_finds_the_align_run_refuses_without_one_and_is_listed():
    cache = _cache()
    with pytest.raises(RunError, match=r"c\.zarr: no complete stage-1 run .*run misgan align first") as err:
        train_gan(cache, GAN)
    assert "partial run" not in str(err.value)
    part = align(cache, AlignConfig(**{**SMALL.__dict__, "folds": (FOLDS[1],)}))
    with pytest.raises(RunError, match=rf"or use the partial run .*\(folds {FOLDS[1]}\) with --align-run") as err:
        train_gan(cache, GAN)
    assert str(err.value).endswith(f"--align-run {part.run_dir}")
    a = align(cache, SMALL)
    lines: list[str] = []
    g = train_gan(cache, GanConfig(**{**GAN.__dict__, "folds": tuple(FOLDS[:2])}), echo=lines.append)
    assert lines[0] == f"using align run {a.run_dir} (key {a.key[:12]})"
    assert [line.split(":")[0] for line in lines[1:]] == [f"gan {f}" for f in FOLDS[:2]]
    assert not g.summary["complete"] and g.summary["folds_todo"] == FOLDS[2:]
    lines.clear()
    g = train_gan(cache, GAN, align_run=a.run_dir, echo=lines.append)  # the same key: resumes, trains the rest
    assert lines[0] == f"gan: resuming {g.run_dir}: 2 of 4 folds already done"
    assert [line.split(":")[0] for line in lines[1:]] == [f"gan {f}" for f in FOLDS[2:]]
    assert g.summary["complete"] and [f["fold"] for f in g.summary["folds"]] == FOLDS
    assert g.key == run_key("gan", open_store(cache).fingerprint, GAN, {"align": a.key})
    assert train_gan(cache, GAN).reused
    rows = list_runs(cache)
    assert [(r["kind"], r["complete"], r["folds"]) for r in rows] == [("align", True, 4), ("gan", True, 4)]
    assert rows[1]["upstream"] == {"align": a.key[:12]} and rows[0]["upstream"] == {}
    text = describe_runs(cache)
    assert f"align={a.key[:12]}" in text and str(g.run_dir) in text and "2 under runs/c" in text
    ckpt = torch.load(generator_path(g.run_dir, FOLDS[0]), weights_only=True)
    assert ckpt["align_key"] == a.key and ckpt["cache_fingerprint"] == open_store(cache).fingerprint
    # another align run gives another gan key (the upstream key is part of it)
    b = align(cache, AlignConfig(**{**SMALL.__dict__, "seed": 3}))
    assert train_gan(cache, GAN, align_run=b.run_dir).key != g.key


def test_run_dir_holding_another_key_is_refused():
    cache = _cache()
    a = align(cache, SMALL)
    before = (a.run_dir / "run.json").read_text()
    with pytest.raises(RunError, match="holds a align run with key"):
        align(cache, AlignConfig(**{**SMALL.__dict__, "h_dim": 6}), run_dir=a.run_dir)
    with pytest.raises(RunError, match="holds a align run"):
        train_gan(cache, GAN, run_dir=a.run_dir)
    assert (a.run_dir / "run.json").read_text() == before
    with pytest.raises(RunError, match="not a stage-1"):
        train_gan(cache, GAN, run_dir="g", align_run=train_gan(cache, GAN).run_dir)


def test_align_run_of_another_cache_is_refused():
    cache = _cache()
    make_feature_store("other.zarr", n_speakers=4, per_class=4, da=8, dt=6, seed=1).close()
    a = align(cache, SMALL)
    with pytest.raises(RunError, match="made from another cache"):
        train_gan("other.zarr", GAN, align_run=a.run_dir)


def test_fixture_align_run_and_fold_reader():
    store = make_feature_store("c.zarr", n_speakers=2, per_class=2, da=4, dt=3)
    arrays = {k: np.zeros((2, 2), np.float32) for k in ("h", "W_y", "b_y", "W_t", "b_t")}
    arrays.update(train_idx=np.arange(8), valid_idx=np.arange(8, 8), test_idx=np.arange(8, 16))
    run = make_align_run(store, {"spk-spk01": (arrays, {"test_speakers": ["spk01"]})})
    got, attrs = load_fold(run, "spk-spk01")
    assert got["test_idx"].dtype == np.int64 and attrs["test_speakers"] == ["spk01"]
    with pytest.raises(RunError, match="'nope' is not complete"):
        load_fold(run, "nope")
    run.write_fold("bare", {"h": arrays["h"]}, {})
    with pytest.raises(RunError, match="lacks W_y"):
        load_fold(run, "bare")
    # every file of the run folder is plain JSON / npz
    assert json.loads((run.path / "run.json").read_text())["kind"] == "align"
    store.close()


def test_default_align_run_skips_the_ablations_alpha_beta_zero_runs():
    cache = _cache()
    noalign = AlignConfig(**{**SMALL.__dict__, "alpha": 0.0, "beta": 0.0})
    only = align(cache, noalign)
    lines: list[str] = []
    train_gan(cache, GanConfig(**{**GAN.__dict__, "folds": (FOLDS[0],)}), echo=lines.append)
    assert lines[0] == f"using align run {only.run_dir} (key {only.key[:12]})"  # nothing else there
    full = align(cache, SMALL)
    align(cache, AlignConfig(**{**noalign.__dict__, "seed": 1}))  # a newer α=β=0 run (stage 3's ablation)
    lines.clear()
    train_gan(cache, GanConfig(**{**GAN.__dict__, "folds": (FOLDS[0],)}), echo=lines.append)
    assert lines[0] == f"using align run {full.run_dir} (key {full.key[:12]})"


def test_a_rerun_opens_a_fresh_log_segment_and_keeps_finished_folds(tmp_path):
    # issue 12.4 (helper E): a restarted run folder keeps its finished folds and logs into a new segment
    from misgan.runs import StageRun

    kw = {"kind": "align", "key": "e" * 64, "cache": "c.zarr", "cache_fingerprint": "f", "config": {}}
    run = StageRun.create(tmp_path / "r", **kw)
    run.write_fold("spk-a", {"h": np.ones((3, 2))}, {"test_speakers": ["a"]})
    run.log.write({"event": "epoch", "fold": "spk-b", "epoch": 1})  # then the process is killed
    again = StageRun.create(tmp_path / "r", **kw)
    assert again.folds() == ["spk-a"] and again.has_fold("spk-a") and not again.has_fold("spk-b")
    latest = again.log.read(-1)
    assert [r["event"] for r in latest] == ["segment"] and latest[0]["folds_done"] == ["spk-a"]
    assert len([r for r in again.log.read() if r["event"] == "segment"]) == 2


def test_warnings_inside_a_stage_are_collected_in_the_run_log(tmp_path):
    import logging
    import warnings

    from misgan.runtime import JsonlLog, collect_warnings

    log = JsonlLog(tmp_path / "log.jsonl")
    with pytest.warns(UserWarning, match="few rows"), collect_warnings(log):
        warnings.warn("few rows in class 'sad'", UserWarning, stacklevel=1)
        logging.getLogger("misgan.gan").warning("kept generator is at chance: consistency 0.25")
        logging.getLogger("elsewhere").warning("not ours")
    records = [r for r in log.read() if r["event"] == "warning"]
    assert sorted(r["message"] for r in records) == [
        "few rows in class 'sad'",
        "kept generator is at chance: consistency 0.25",
    ]
    assert {r["source"] for r in records} == {"UserWarning", "misgan.gan"}
