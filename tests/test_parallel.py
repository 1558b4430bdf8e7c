"""Fold-parallel runs (misgan.parallel) and the thread policy (misgan.runtime): `jobs=2` gives the very arrays
and summaries of the serial loop, torchrun-style ranks split the items r, r + world, ... and rank 0 gathers,
and the effective thread count is what meta.json records."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
import torch
from store_fixtures import make_feature_store

from misgan.alignment.config import AlignConfig
from misgan.alignment.run import align, load_fold
from misgan.gan.config import GanConfig
from misgan.gan.run import generator_path, train_gan
from misgan.parallel import map_folds
from misgan.runs import StageRun
from misgan.runtime import MAX_DEFAULT_THREADS, apply_threads, resolve_threads

torch.set_num_threads(1)
SMALL = AlignConfig(h_dim=8, shared_dim=4, epochs=3, batch_size=32, lr=1e-3, patience=5, threads=1)
GAN = GanConfig(epochs=2, batch_size=32, min_steps=2, noise_dim=4, eval_rows=64, threads=1)
FOLDS = [f"spk-spk{i:02d}" for i in range(4)]
REPO = Path(__file__).resolve().parents[1]


def _cache(name: str = "c.zarr") -> Path:
    make_feature_store(name, n_speakers=4, per_class=4, da=8, dt=6).close()
    return Path(name).resolve()


def _square_sum(x: int) -> tuple[int, float]:
    return x, float(np.square(np.arange(x + 1, dtype=np.float64)).sum())


def test_map_folds_matches_the_list_comprehension_in_order_and_reports_each_result_once():
    items = list(range(7))
    expected = [(x, x * (x + 1) * (2 * x + 1) / 6) for x in items]  # sum of squares, closed form
    seen: list[tuple[int, tuple[int, float]]] = []
    assert map_folds(_square_sum, items, 1) == expected
    assert map_folds(_square_sum, items, 2, on_result=lambda i, r: seen.append((i, r))) == expected
    assert sorted(seen) == list(zip(items, expected, strict=True))


def test_workers_run_with_threads_per_job():
    def threads(_: int) -> int:
        return torch.get_num_threads()

    assert map_folds(threads, [0, 1, 2], 2, threads_per_job=1) == [1, 1, 1]


def test_thread_policy_follows_the_idle_physical_cores_and_one_per_parallel_worker(monkeypatch):
    physical = psutil.cpu_count(logical=False) or os.cpu_count()
    usable = min(physical, len(os.sched_getaffinity(0)))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # a quiet machine: every core
    assert resolve_threads(0) == min(usable, MAX_DEFAULT_THREADS)
    monkeypatch.setattr(os, "getloadavg", lambda: (usable - 1.0, 0.0, 0.0))  # all but one core busy
    assert resolve_threads(0) == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0 * usable, 0.0, 0.0))  # oversubscribed: still 1
    assert resolve_threads(0) == 1
    assert resolve_threads(None) == resolve_threads(0)
    assert resolve_threads(0, jobs=3) == 1
    assert resolve_threads(3, jobs=3) == 3
    before = torch.get_num_threads()
    try:
        apply_threads(1)
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    finally:
        torch.set_num_threads(before)


def _fold_arrays(run_dir: Path) -> dict[str, tuple[dict, dict]]:
    return {f: load_fold(run_dir, f) for f in FOLDS}


def test_align_with_two_jobs_equals_the_serial_run():
    cache = _cache()
    serial = align(cache, SMALL, run_dir="serial")
    parallel = align(cache, AlignConfig(**{**SMALL.__dict__, "jobs": 2}), run_dir="parallel")
    assert parallel.key == serial.key  # jobs is not part of the key
    a, b = _fold_arrays(serial.run_dir), _fold_arrays(parallel.run_dir)
    for fold in FOLDS:
        assert sorted(a[fold][0]) == sorted(b[fold][0])
        for k in a[fold][0]:
            np.testing.assert_array_equal(a[fold][0][k], b[fold][0][k], err_msg=f"{fold}/{k}")
        assert a[fold][1]["baseline"] == b[fold][1]["baseline"]
        assert a[fold][1]["fingerprint"] == b[fold][1]["fingerprint"]
    assert parallel.summary["mean_std"] == serial.summary["mean_std"]
    meta = json.loads((Path(parallel.run_dir) / "meta.json").read_text())
    assert meta["threads"] == 1  # the effective count, recorded


def test_parallel_run_resumes_only_the_missing_folds():
    cache = _cache()
    two = AlignConfig(**{**SMALL.__dict__, "jobs": 2})
    part = align(cache, AlignConfig(**{**two.__dict__, "folds": tuple(FOLDS[:2])}), run_dir="r")
    assert not part.summary["complete"] and StageRun.open("r").folds() == FOLDS[:2]
    whole = align(cache, two, run_dir="r")
    done = [r["fold"] for r in StageRun.open("r").log.read() if r.get("event") == "fold_done"]
    assert sorted(done) == FOLDS and len(done) == len(FOLDS)  # no fold trained twice
    assert whole.summary["complete"]


def test_gan_with_two_jobs_equals_the_serial_run():
    cache = _cache()
    up = align(cache, SMALL, run_dir="a")
    serial = train_gan(cache, GAN, run_dir="g1", align_run=up.run_dir)
    parallel = train_gan(cache, GanConfig(**{**GAN.__dict__, "jobs": 2}), run_dir="g2", align_run=up.run_dir)
    assert parallel.key == serial.key and parallel.summary["complete"]
    assert parallel.summary["folds"] == serial.summary["folds"]
    for fold in FOLDS:
        a = torch.load(generator_path(serial.run_dir, fold), weights_only=False)
        b = torch.load(generator_path(parallel.run_dir, fold), weights_only=False)
        sa, sb = a["state_dict"], b["state_dict"]
        assert sorted(sa) == sorted(sb)
        for k in sa:
            assert torch.equal(sa[k], sb[k]), f"{fold}/{k}"


RANK_SCRIPT = """
import json, sys
from misgan.parallel import map_folds
ran = []
out = map_folds(lambda x: (ran.append(x), x * x)[1], range(7), 1)
print(json.dumps({"ran": ran, "out": out}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ranks(script: str, *args: str, world: int = 2) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(world)
    ]
    done = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        done.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    for d in done:
        assert d.returncode == 0, d.stderr[-2000:]
    return done


def test_torchrun_ranks_split_the_items_and_rank_zero_gathers():
    r0, r1 = (json.loads(p.stdout.strip().splitlines()[-1]) for p in _ranks(RANK_SCRIPT))
    assert r0["ran"] == [0, 2, 4, 6] and r1["ran"] == [1, 3, 5]
    assert r0["out"] == [x * x for x in range(7)]
    assert r1["out"] == [None, 1, None, 9, None, 25, None]


ALIGN_SCRIPT = """
import sys
from misgan.alignment.config import AlignConfig
from misgan.alignment.run import align
cfg = AlignConfig(h_dim=8, shared_dim=4, epochs=3, batch_size=32, lr=1e-3, patience=5, threads=1)
r = align(sys.argv[1], cfg, run_dir=sys.argv[2])
print(r.summary.get("complete"))
"""


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without distributed")
def test_align_under_two_ranks_equals_the_serial_run():
    cache = _cache()
    serial = align(cache, SMALL, run_dir="serial")
    outs = _ranks(ALIGN_SCRIPT, str(cache), str(Path("ranked").resolve()))
    assert outs[0].stdout.strip().splitlines()[-1] == "True"  # rank 0 concluded the run
    assert StageRun.open("ranked").complete and StageRun.open("ranked").key == serial.key
    a, b = _fold_arrays(serial.run_dir), _fold_arrays(Path("ranked"))
    for fold in FOLDS:
        for k in a[fold][0]:
            np.testing.assert_array_equal(a[fold][0][k], b[fold][0][k], err_msg=f"{fold}/{k}")


def _augment_cfg(jobs: int, methods: tuple[str, ...] = ("none", "smote", "ours")) -> Any:
    from misgan.augmentation.classifier import ClassifierConfig
    from misgan.augmentation.config import AugmentConfig

    clf = ClassifierConfig(max_epochs=20, patience=5, min_epochs=2)
    return AugmentConfig(methods=methods, seeds=2, threads=1, jobs=jobs, classifier=clf, gan=GAN, tsne=False)


def _job_scores(run_dir: Path) -> dict[str, list[tuple]]:
    """Every (variant, ratio, fraction) -> metrics of each kept (fold, seed) job, timings left out."""
    from misgan.augmentation.results import job_name

    run, out = StageRun.open(run_dir), {}
    for name in (job_name(f, s) for f in FOLDS for s in (0, 1)):
        if run.has_fold(name):
            job = run.read_fold(name)[1]
            out[name] = [(r["variant"], r["ratio"], r["fraction"], r["metrics"]) for r in job["runs"]]
    return out


def test_augment_with_two_jobs_equals_the_serial_run():
    from misgan.augmentation.evaluate import augment

    cache = _cache()
    align(cache, SMALL)
    serial = augment(cache, _augment_cfg(1), run_dir="s", progress=False)
    lines: list[str] = []
    parallel = augment(cache, _augment_cfg(2), run_dir="p", progress=False, echo=lines.append)
    assert parallel.key == serial.key  # jobs is not part of the key
    assert any("found by key" in line for line in lines)  # the generators the serial run trained
    a, b = _job_scores(serial.run_dir), _job_scores(parallel.run_dir)
    assert sorted(a) == sorted(f"{f}.seed{s}" for f in FOLDS for s in (0, 1))
    assert a == b  # every score of every (fold, seed), exactly
    assert {"none", "smote", "ours", "reference"} <= {v for runs in a.values() for v, *_ in runs}
    ra, rb = (json.loads((Path(r.run_dir) / "results.json").read_text()) for r in (serial, parallel))
    assert ra["summary"] == rb["summary"]
    assert json.loads((Path(parallel.run_dir) / "meta.json").read_text())["threads"] == 1


def test_augment_with_two_jobs_resumes_after_an_interruption(monkeypatch):
    import misgan.augmentation.evaluate as ev

    cache = _cache()
    align(cache, SMALL)
    cfg = _augment_cfg(2, ("none", "smote"))
    whole = ev.augment(cache, _augment_cfg(1, ("none", "smote")), run_dir="whole", progress=False)
    real_line = ev.fold_line

    def dies_after_first_job(*a: Any, **k: Any) -> list[str]:
        raise KeyboardInterrupt  # in the calling process, right after the first job was written

    monkeypatch.setattr(ev, "fold_line", dies_after_first_job)
    with pytest.raises(KeyboardInterrupt):
        ev.augment(cache, cfg, run_dir="parts", progress=False)
    kept = _job_scores(Path("parts"))
    assert 1 <= len(kept) < 8 and not StageRun.open("parts").complete
    monkeypatch.setattr(ev, "fold_line", real_line)
    lines: list[str] = []
    out = ev.augment(cache, cfg, run_dir="parts", progress=False, echo=lines.append)
    assert any(f"{len(kept)} job(s) kept" in line for line in lines)
    done = [(r["fold"], r["seed"]) for r in StageRun.open("parts").log.read() if r.get("event") == "job_done"]
    assert sorted(done) == sorted((f, s) for f in FOLDS for s in (0, 1))  # no job computed twice
    assert out.summary["summary"] == whole.summary["summary"]
    assert _job_scores(out.run_dir) == _job_scores(whole.run_dir)
