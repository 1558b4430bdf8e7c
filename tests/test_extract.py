"""Extraction: values against a direct reference, failures, fingerprint, cache hit, resume after SIGKILL,
sharding under torchrun, real openSMILE eGeMAPS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile as sf
from store_fixtures import ToyEncoder, ToySpec, make_wav_corpus

from misgan.data.manifest import write_manifest
from misgan.errors import ExtractError, StoreError
from misgan.features.encoders.base import BadInputError
from misgan.features.extract import extract
from misgan.features.identity import fingerprint
from misgan.features.store import FeatureStore, open_store
from misgan.features.writer import tmp_path

TESTS = Path(__file__).resolve().parent
FAST = {"chunk_rows": 4, "batch_size": 3, "progress": False}


def _toys(dim: int = 8) -> tuple[ToyEncoder, ToyEncoder]:
    return ToyEncoder("audio", dim=dim), ToyEncoder("text", dim=4)


def _reference(manifest, rows) -> np.ndarray:
    """Toy features computed straight from soundfile, one clip at a time (no batching, no store)."""
    enc = ToyEncoder()
    return np.concatenate([enc.encode([sf.read(manifest.loc[r, "path"], dtype="float32")[0]]) for r in rows])


def _broken_corpus(root: str = "wavs"):
    """16 clips; rows 1 (garbage bytes), 6 (0 samples), 9 (50 ms) and 12 (no transcript) must fail."""
    m = make_wav_corpus(root, n_speakers=2, per_class=2)
    Path(m.loc[1, "path"]).write_bytes(b"RIFF not really a wav")
    sf.write(m.loc[6, "path"], np.zeros(0, dtype=np.float32), 16000)
    sf.write(m.loc[9, "path"], np.full(800, 0.1, dtype=np.float32), 16000)
    m.loc[12, "text"] = " "
    return m


@pytest.mark.parametrize("out", ["c.zarr", "c.h5"])
def test_values_failures_and_layout(out):
    m = _broken_corpus()
    audio, text = _toys()
    s = extract(m, out, audio_encoder=audio, text_encoder=text, **FAST)
    assert s.status == "extracted" and s.n_manifest == 16
    failed = {f["utt_id"]: f["reason"] for f in s.failures}
    assert sorted(failed) == sorted(m.loc[[1, 6, 9, 12], "utt_id"])
    assert Path(m.loc[1, "path"]).name in failed[m.loc[1, "utt_id"]]
    assert "transcript" in failed[m.loc[12, "utt_id"]]
    kept = [r for r in range(16) if r not in (1, 6, 9, 12)]
    store = open_store(out)
    assert store.n_rows == 12 and store.dims == {"audio": 8, "text": 4}
    assert store.meta()["utt_id"].tolist() == m.loc[kept, "utt_id"].tolist()
    assert store.meta()["label"].tolist() == m.loc[kept, "label"].tolist()
    np.testing.assert_allclose(store.read("audio"), _reference(m, kept), rtol=1e-6)
    np.testing.assert_array_equal(store.read("text"), ToyEncoder("text", dim=4).encode(list(m.loc[kept, "text"])))
    assert store.attrs["encoders"]["audio"] == ToySpec(name="toy-audio").to_dict()
    assert store.attrs["fingerprint"] == s.fingerprint
    assert not tmp_path(out).exists()


def test_zarr_and_h5_identical_and_batch_size_free():
    m = make_wav_corpus("wavs", n_speakers=2, per_class=2)
    a = extract(m, "a.zarr", audio_encoder=ToyEncoder(), text_encoder=None, **FAST)
    b = extract(m, "b.h5", audio_encoder=ToyEncoder(), text_encoder=None, chunk_rows=5, batch_size=1, workers=0)
    assert a.fingerprint == b.fingerprint  # batch size, chunking and workers are not part of the identity
    za, hb = open_store("a.zarr"), open_store("b.h5")
    np.testing.assert_array_equal(za.read("audio"), hb.read("audio"))
    assert za.meta().equals(hb.meta())


def test_cache_hit_survives_deleted_audio_and_other_inputs_are_refused():
    m = make_wav_corpus("wavs", n_speakers=2, per_class=1)
    extract(m, "c.zarr", audio_encoder=ToyEncoder(), text_encoder=None, **FAST)
    before = open_store("c.zarr").read("audio")
    for p in m["path"]:
        os.remove(p)  # recomputation is now impossible
    enc = ToyEncoder()
    again = extract(m, "c.zarr", audio_encoder=enc, text_encoder=None, **FAST)
    assert again.status == "cached" and enc.calls == 0
    np.testing.assert_array_equal(open_store("c.zarr").read("audio"), before)

    other = ToyEncoder(dim=6)  # another producer: different spec, different fingerprint
    with pytest.raises(StoreError, match=r"different manifest or encoders.*--overwrite"):
        extract(m, "c.zarr", audio_encoder=other, text_encoder=None, **FAST)
    m2 = m.copy()
    m2.loc[0, "label"] = "sad" if m2.loc[0, "label"] != "sad" else "angry"
    with pytest.raises(StoreError, match="different"):
        extract(m2, "c.zarr", audio_encoder=ToyEncoder(), text_encoder=None, **FAST)
    np.testing.assert_array_equal(open_store("c.zarr").read("audio"), before)  # old store untouched


def test_overwrite_replaces_and_unfinished_store_from_other_inputs_is_refused():
    m = make_wav_corpus("wavs", n_speakers=2, per_class=1)
    extract(m, "c.zarr", audio_encoder=ToyEncoder(), text_encoder=None, **FAST)
    s = extract(m, "c.zarr", audio_encoder=ToyEncoder(dim=6), text_encoder=None, overwrite=True, **FAST)
    assert s.status == "extracted" and open_store("c.zarr").dims == {"audio": 6}
    # an unfinished store of other inputs is never resumed into
    FeatureStore.create(
        "d.zarr", m, ["neutral", "happy", "sad", "angry"], {"audio": 8}, {"fingerprint": "x"}
    ).close()
    with pytest.raises(StoreError, match=r"unfinished extraction from different inputs.*--overwrite"):
        extract(m, "d.zarr", audio_encoder=ToyEncoder(), text_encoder=None, **FAST)
    extract(m, "d.zarr", audio_encoder=ToyEncoder(), text_encoder=None, overwrite=True, **FAST)
    assert open_store("d.zarr").n_rows == len(m)


def test_strict_stops_and_a_lenient_rerun_resumes():
    m = _broken_corpus()
    with pytest.raises(ExtractError, match=rf"{m.loc[1, 'utt_id']}.*--strict"):
        extract(m, "c.zarr", audio_encoder=ToyEncoder(), text_encoder=ToyEncoder("text", 4), strict=True, **FAST)
    with pytest.raises(StoreError, match="re-run"):
        open_store("c.zarr")
    s = extract(m, "c.zarr", audio_encoder=ToyEncoder(), text_encoder=ToyEncoder("text", 4), **FAST)
    assert s.n_failed == 4 and s.n_rows == 12


class _Picky(ToyEncoder):
    """Rejects waveforms with a positive mean, naming the batch position like the real encoders do."""

    def encode(self, batch):
        for i, x in enumerate(batch):
            if np.mean(x) > 0:
                raise BadInputError(i, "positive mean")
        return super().encode(batch)


class _PickySplit(ToyEncoder):
    """The same, with the prepare/forward split of the real encoders (prepare runs in the producer thread)."""

    def prepare(self, batch):
        for i, x in enumerate(batch):
            if np.mean(x) > 0:
                raise BadInputError(i, "positive mean")
        return list(batch)

    def forward(self, inputs):
        return ToyEncoder.encode(self, inputs)


@pytest.mark.parametrize("encoder", [_Picky, _PickySplit])
def test_an_item_the_encoder_rejects_is_dropped_and_the_batch_retried(encoder):
    m = make_wav_corpus("wavs", n_speakers=2, per_class=2)
    means = [float(np.mean(sf.read(p, dtype="float32")[0])) for p in m["path"]]
    bad = {i for i, v in enumerate(means) if v > 0}
    assert 0 < len(bad) < len(m)
    s = extract(m, "c.zarr", audio_encoder=encoder(), text_encoder=None, **FAST)
    assert {f["utt_id"] for f in s.failures} == set(m.loc[sorted(bad), "utt_id"])
    assert all("positive mean" in f["reason"] for f in s.failures)
    kept = [i for i in range(len(m)) if i not in bad]
    np.testing.assert_allclose(open_store("c.zarr").read("audio"), _reference(m, kept), rtol=1e-6)


def test_fingerprint_is_stable_across_processes_and_tracks_inputs():
    from misgan.features.encoders import resolve_spec

    m = make_wav_corpus("wavs", n_speakers=2, per_class=1)
    write_manifest(m, "m.csv")
    here = fingerprint(m, resolve_spec("egemaps"), ToySpec(modality="text"))
    code = textwrap.dedent(
        f"""
        import sys; sys.path.insert(0, {str(TESTS)!r})
        from store_fixtures import ToySpec
        from misgan.features.encoders import resolve_spec
        from misgan.features.identity import fingerprint
        from misgan.data.manifest import read_manifest
        print(fingerprint(read_manifest("m.csv"), resolve_spec("egemaps"), ToySpec(modality="text")))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert there.stdout.strip() == here and len(here) == 64
    assert fingerprint(m, resolve_spec("compare"), ToySpec(modality="text")) != here
    assert fingerprint(m, resolve_spec("egemaps"), None) != here
    assert (
        fingerprint(m, resolve_spec("egemaps"), ToySpec(modality="text"), ["angry", "sad", "happy", "neutral"])
        != here
    )
    m2 = m.copy()
    m2.loc[0, "speaker"] = "someone-else"
    assert fingerprint(m2, resolve_spec("egemaps"), ToySpec(modality="text")) != here


_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from store_fixtures import ToyEncoder
from misgan.features.extract import extract
from misgan.data.manifest import read_manifest
enc = {{"audio_encoder": ToyEncoder(), "text_encoder": ToyEncoder("text", 4)}}
s = extract(read_manifest(sys.argv[1]), sys.argv[2], **enc, chunk_rows=4, batch_size=2, workers=1, progress=False)
print("ROWS", s.rows_encoded, s.n_rows)
"""


@pytest.mark.parametrize("out", ["k.zarr", "k.h5"])
def test_resume_after_sigkill_redoes_only_unfinished_chunks(out):
    m = make_wav_corpus("wavs", n_speakers=4, per_class=2)  # 32 rows = 8 chunks of 4
    write_manifest(m, "m.csv")
    Path("run.py").write_text(_SCRIPT.format(tests=str(TESTS)))
    env = {**os.environ, "MISGAN_TOY_SLEEP": "0.12", "MISGAN_TOY_LOG": "calls.jsonl"}
    proc = subprocess.Popen([sys.executable, "run.py", "m.csv", out], env=env)
    deadline = time.time() + 60
    log = Path("calls.jsonl")
    # 4 encode calls per chunk (2 audio + 2 text batches): the 10th call means chunks 1 and 2 are written
    while time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if log.exists() and len(log.read_text().splitlines()) >= 10:
            break
    readers = psutil.Process(proc.pid).children()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert len(readers) == 1  # workers=1: one forked reader process
    _, alive = psutil.wait_procs(readers, timeout=5)
    assert not alive, "reader processes outlived the killed extraction"
    with pytest.raises(StoreError, match="re-run"):
        open_store(out)
    store = FeatureStore.resume(out)
    done_before = int(store.done_mask().sum())
    store.close()
    assert 8 <= done_before < 32 and done_before % 4 == 0

    audio, text = _toys()
    s = extract(m, out, audio_encoder=audio, text_encoder=text, chunk_rows=4, batch_size=2, progress=False)
    assert audio.items == 32 - done_before == s.rows_encoded  # finished chunks were not recomputed
    extract(m, "ref.zarr", audio_encoder=ToyEncoder(), text_encoder=ToyEncoder("text", 4), **FAST)
    got, ref = open_store(out), open_store("ref.zarr")
    assert got.meta().equals(ref.meta()) and got.n_rows == 32
    np.testing.assert_array_equal(got.read("audio"), ref.read("audio"))
    np.testing.assert_array_equal(got.read("text"), ref.read("text"))


def test_torchrun_two_ranks_share_the_chunks(monkeypatch):
    m = make_wav_corpus("wavs", n_speakers=2, per_class=2)  # 16 rows = 4 chunks
    write_manifest(m, "m.csv")
    Path("run.py").write_text(_SCRIPT.format(tests=str(TESTS)))
    env = {**os.environ, "MISGAN_TOY_LOG": "calls.jsonl", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    res = subprocess.run([*cmd, "run.py", "m.csv", "t.zarr"], env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    import json

    calls = [json.loads(line) for line in Path("calls.jsonl").read_text().splitlines()]
    per_pid: dict[int, int] = {}
    for c in calls:
        if c["modality"] == "audio":
            per_pid[c["pid"]] = per_pid.get(c["pid"], 0) + c["n"]
    assert sorted(per_pid.values()) == [8, 8]  # two processes, two chunks each, no row twice
    extract(m, "ref.zarr", audio_encoder=ToyEncoder(), text_encoder=ToyEncoder("text", 4), **FAST)
    np.testing.assert_array_equal(open_store("t.zarr").read("audio"), open_store("ref.zarr").read("audio"))

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(StoreError, match="HDF5 cannot be written by several processes"):
        extract(m, "t.h5", audio_encoder=ToyEncoder(), text_encoder=None, **FAST)


def test_real_egemaps():
    import opensmile

    m = make_wav_corpus("wavs", n_speakers=1, per_class=2)
    s = extract(m, "e.h5", audio_encoder="egemaps", text_encoder=None, **FAST)
    store = open_store("e.h5")
    assert store.dims == {"audio": 88} and store.n_rows == 8 and s.n_failed == 0
    assert store.attrs["encoders"]["audio"]["model_id"] == "eGeMAPSv02"
    assert store.attrs["encoders"]["audio"]["revision"] == f"opensmile=={opensmile.__version__}"
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    x, sr = sf.read(m.loc[5, "path"], dtype="float32")
    ref = smile.process_signal(x, sr).to_numpy(dtype=np.float32)[0]
    np.testing.assert_allclose(store.read("audio", [5])[0], ref, rtol=1e-5, atol=1e-5)
    # deterministic: a second extraction gives the same numbers
    extract(m, "e2.zarr", audio_encoder="egemaps", text_encoder=None, **FAST)
    np.testing.assert_array_equal(open_store("e2.zarr").read("audio"), store.read("audio"))
