"""Writer locks (issue 12.3): one writer per cache and per run folder; a dead holder's lock is taken over."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misgan.locks import LockError, acquire, cache_lock_path, release, writer_lock
from misgan.runs import StageRun

HOLD = """
import sys, time
from pathlib import Path
from misgan.locks import acquire
acquire(Path(sys.argv[1]), "feature cache")
print("held", flush=True)
time.sleep(60)
"""


def _holder(lock: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_gets_one_line_naming_the_holder(tmp_path):
    target = tmp_path / "c.zarr"
    proc = _holder(cache_lock_path(target))
    try:
        with pytest.raises(LockError) as err, writer_lock(target):
            pass
        msg = str(err.value)
        assert "\n" not in msg and f"pid {proc.pid}" in msg and "started" in msg and str(target) in msg
    finally:
        proc.kill()
        proc.wait()


def test_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path, capsys):
    target = tmp_path / "c.zarr"
    proc = _holder(cache_lock_path(target))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with writer_lock(target):
        pass
    err = capsys.readouterr().err
    assert err.startswith("warning:") and f"pid {proc.pid}" in err and "gone" in err and err.count("\n") == 1
    with writer_lock(target):  # released cleanly: no warning the second time
        pass
    assert capsys.readouterr().err == ""


def test_lock_is_reentrant_within_a_process(tmp_path):
    lock = tmp_path / "x.lock"
    acquire(lock, "run folder")
    acquire(lock, "run folder")
    release(lock)
    release(lock)
    proc = _holder(lock)  # fully released: another process can take it
    proc.kill()
    proc.wait()


def test_two_import_processes_one_wins_the_other_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    m = pd.DataFrame(
        {
            "utt_id": [f"u{i}" for i in range(n)],
            "path": "",
            "label": ["a", "b"] * (n // 2),
            "speaker": [f"s{i % 4}" for i in range(n)],
        }
    )
    m.to_csv(tmp_path / "m.csv", index=False)
    np.save(tmp_path / "a.npy", rng.normal(size=(n, 8)).astype(np.float32))
    out = tmp_path / "c.zarr"
    proc = _holder(cache_lock_path(out))
    try:
        cmd = [sys.executable, "-m", "misgan", "import", "-m", str(tmp_path / "m.csv"), "--audio"]
        r = subprocess.run([*cmd, str(tmp_path / "a.npy"), "-o", str(out)], capture_output=True, text=True)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert f"pid {proc.pid}" in r.stderr and "another misgan process" in r.stderr
        assert not out.exists()
    finally:
        proc.kill()
        proc.wait()
    r = subprocess.run([*cmd, str(tmp_path / "a.npy"), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


RUN = """
import sys, time
from misgan.runs import StageRun
StageRun.create(sys.argv[1], kind="align", key="k" * 64, cache="c.zarr", cache_fingerprint="f", config={})
print("held", flush=True)
time.sleep(60)
"""


def test_two_writers_of_one_run_folder_conflict_cleanly(tmp_path, capsys):
    run_dir = tmp_path / "align-kkk"
    proc = subprocess.Popen([sys.executable, "-c", RUN, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(LockError, match=f"pid {proc.pid}"):
            StageRun.create(run_dir, kind="align", key="k" * 64, cache="c.zarr", cache_fingerprint="f", config={})
    finally:
        proc.kill()
        proc.wait()
    run = StageRun.create(run_dir, kind="align", key="k" * 64, cache="c.zarr", cache_fingerprint="f", config={})
    assert f"pid {proc.pid}" in capsys.readouterr().err  # the killed holder's lock, taken over
    run.finish({"ok": True})
    assert not (run_dir / "writer.lock.json").exists()
