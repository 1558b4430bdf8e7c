"""Outside information for stage 3 (misgan.augmentation.sources): --source-cache and --text-source.

The leakage test poisons the target's test speaker (and a source row of that same speaker) with 999 and spies
on everything the generator is trained on; the mapped source rows are checked against numpy's own
standardise-then-linear-map of the stored adapter weights; the text-source test checks every conditioning row
against a hand-written fake encoder of the CSV's sentences of the requested class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from store_fixtures import make_feature_store

from misgan.alignment.config import AlignConfig
from misgan.augmentation import sources, text_source
from misgan.augmentation.classifier import ClassifierConfig
from misgan.augmentation.evaluate import AugmentConfig, augment
from misgan.features.store import open_store, store_from_arrays
from misgan.gan.config import GanConfig
from misgan.io import read_json

torch.set_num_threads(1)
GAN = GanConfig(epochs=2, patience=0, batch_size=64, threads=1)
FAST = ClassifierConfig(max_epochs=20, patience=5)
STAGE1 = AlignConfig(h_dim=6, epochs=2, batch_size=32, patience=2, dropout=0.0)
AUDIO = {"name": "toy-a", "modality": "audio", "backend": "hf", "model_id": "toy/audio", "revision": "r1",
         "layer": None, "pooling": "mean", "sample_rate": 16000, "dim": 8}  # fmt: skip
TEXT = {"name": "toy-t", "modality": "text", "backend": "hf", "model_id": "toy/text", "revision": "r1",
        "layer": None, "pooling": "mean", "sample_rate": None, "dim": 4}  # fmt: skip


def make_store(path: Path, seed: int, corpus: str, poison: str | None = None, audio_spec: dict | None = None):
    """A synthetic cache with encoder specs in its attrs; the rows of speaker `poison` set to 999."""
    base = make_feature_store(path.with_suffix(".base.zarr"), n_speakers=4, per_class=5, da=8, dt=4, seed=seed)
    meta, audio, text = base.meta(), base.read("audio"), base.read("text")
    base.close()
    if poison is not None:
        bad = meta["speaker"].to_numpy() == poison
        audio[bad], text[bad] = 999.0, 999.0
    meta = meta.drop(columns=["y"])
    meta["path"], meta["text"], meta["duration"] = "x.wav", "", 1.0
    attrs = {"corpus": corpus, "encoders": {"audio": audio_spec or AUDIO, "text": TEXT}}
    store_from_arrays(path, meta, audio, text, base.label_names, attrs).close()
    return path


@pytest.fixture(autouse=True)
def _no_auc(monkeypatch):
    from misgan.gan import metrics as gan_metrics

    monkeypatch.setattr(gan_metrics, "real_vs_fake_auc", lambda *a, **k: 0.5)


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Target (test speaker spk00 poisoned), a source of another corpus, and a source of the SAME corpus that
    holds the target's test speaker (poisoned too: its rows must be dropped), plus the target's stage-1 run."""
    from misgan.alignment.run import align

    monkeypatch.chdir(tmp_path)
    target = make_store(tmp_path / "target.zarr", 0, "synthetic", poison="spk00")
    other = make_store(tmp_path / "other.zarr", 1, "other-corpus")
    same = make_store(tmp_path / "same.zarr", 2, "synthetic", poison="spk00")
    align(target, STAGE1, progress=False)
    return target, other, same


def spy_on_gan(monkeypatch) -> list[dict]:
    from misgan.gan import train as gan

    seen: list[dict] = []
    real = gan.fit_gan

    def spy(h, y, t, heads, config, **kw):
        seen.append({"h": np.asarray(h), "y": np.asarray(y), "t": t, "valid": kw.get("valid")})
        return real(h, y, t, heads, config, **kw)

    monkeypatch.setattr(gan, "fit_gan", spy)
    return seen


def test_source_rows_reach_the_generator_but_no_test_row(caches, monkeypatch):
    target, other, same = caches
    seen = spy_on_gan(monkeypatch)
    lines: list[str] = []
    cfg = AugmentConfig(
        methods=("ours",), source_caches=(str(other), str(same)), folds=("spk-spk00",),
        classifier=FAST, gan=GAN, tsne=False, reference=False,
    )  # fmt: skip
    out = augment(target, cfg, progress=False, echo=lines.append)
    assert len(seen) == 1  # one generator, trained in the fold (no gan run has the sources)
    got = seen[0]
    for arr in (got["h"], got["t"], *[a for a in got["valid"] if a is not None]):
        assert np.abs(arr).max() < 100  # no poisoned row: neither the target's nor the same-corpus source's
    from misgan.alignment.run import load_fold
    from misgan.run_lookup import find_runs

    arrays, _ = load_fold(find_runs(target, "align")[-1], "spk-spk00")
    n_train_target = len(arrays["train_idx"])
    n_other, n_same_clean = 80, 60  # 4 speakers x 4 classes x 5; the same corpus loses speaker spk00
    assert len(got["y"]) == n_train_target + n_other + n_same_clean
    # the source rows are the raw features mapped through the fold's standardisation + linear adapter
    with open_store(other) as st:
        raw = st.read("audio")
    x = (raw - arrays["audio_mean"]) / arrays["audio_std"]
    weights = sorted(k for k in arrays if k.startswith("adapter.") and k.endswith("weight"))
    if "adapter.basis" in arrays:  # PCA adapter
        expect = x @ arrays["adapter.basis"]
    elif weights:  # one linear layer (hidden = 0)
        (w,) = weights
        expect = x @ arrays[w].T + arrays[w.replace("weight", "bias")]
    else:  # identity adapter
        expect = x
    np.testing.assert_allclose(got["h"][n_train_target : n_train_target + n_other], expect, atol=1e-4)
    res = read_json(out.run_dir / "results.json")
    used = res["outside"]["source_caches"]
    assert [u["path"] for u in used] == [str(other), str(same)]
    assert [u["rows"] for u in used] == [80, 80]
    with open_store(other) as st:
        assert used[0]["fingerprint"] == st.fingerprint
    assert res["outside"]["source_rows_per_fold"]["spk-spk00"] == {str(other): 80, str(same): 60}
    assert any("source cache" in line and "80 rows" in line for line in lines)
    report = (out.run_dir / "report.md").read_text()
    assert str(other) in report


def test_sources_enter_the_key(caches, tmp_path):
    from misgan.augmentation.evaluate import augment_key

    _, other, same = caches
    base = AugmentConfig(methods=("ours",))
    k0 = augment_key("fp", base, "a", "g")
    k1 = augment_key("fp", AugmentConfig(methods=("ours",), source_caches=(str(other),)), "a", "g")
    k2 = augment_key("fp", AugmentConfig(methods=("ours",), source_caches=(str(same),)), "a", "g")
    assert len({k0, k1, k2}) == 3
    assert augment_key("fp", base, "a", "g") == k0  # without sources the key is the plain recipe


def test_encoder_mismatch_names_both_caches(caches, tmp_path):
    target, _, _ = caches
    odd = make_store(tmp_path / "odd.zarr", 3, "x", audio_spec={**AUDIO, "revision": "r2"})
    cfg = AugmentConfig(methods=("ours",), source_caches=(str(odd),), classifier=FAST, gan=GAN, tsne=False)
    with pytest.raises(sources.SourceError) as err:
        augment(target, cfg, progress=False)
    msg = str(err.value)
    assert str(odd) in msg and str(target) in msg and "audio encoder" in msg


class FakeText:
    """A tiny deterministic text encoder: letter counts of a, e, i, o (dim 4, as the cache's text)."""

    calls = 0

    def encode(self, batch):
        FakeText.calls += 1
        return np.asarray([[s.count(ch) for ch in "aeio"] for s in batch], np.float32)


def test_text_source_conditions_ours_on_its_sentences(caches, tmp_path, monkeypatch):
    from misgan.gan import train as gan

    target, _, _ = caches
    csv = tmp_path / "meld.csv"
    rows = [("I am so happy today", "joy"), ("what a great party", "joy"), ("I feel awful", "sadness"),
            ("this is so sad", "sadness"), ("get out of here", "anger"), ("I hate this", "anger"),
            ("it is a table", "neutral"), ("the bus is late", "neutral"), ("oh really?", "surprise"),
            ("yuck", "disgust"), ("no way!", "surprise")]  # fmt: skip
    pd.DataFrame(rows, columns=["text", "emotion"]).to_csv(csv, index=False)
    monkeypatch.setattr(text_source, "load_text_encoder", lambda spec: FakeText())
    conds: list[tuple[np.ndarray, np.ndarray]] = []
    real = gan.generate

    def spy(generator, labels, t_cond, seed, **kw):
        conds.append((np.asarray(labels), np.asarray(t_cond)))
        return real(generator, labels, t_cond, seed, **kw)

    monkeypatch.setattr(gan, "generate", spy)
    lines: list[str] = []
    cfg = AugmentConfig(
        methods=("ours",), text_source=str(csv), folds=("spk-spk01",), classifier=FAST, gan=GAN, tsne=False,
        reference=False,
    )  # fmt: skip
    out = augment(target, cfg, progress=False, echo=lines.append)
    assert FakeText.calls >= 1
    assert any("disgust 1" in line and "surprise 2" in line for line in lines)  # dropped, counted per label
    names = ["neutral", "happy", "sad", "angry"]  # CLASSES_4 order of the fixture
    with open_store(target) as st:
        assert st.label_names == names
    enc = FakeText().encode
    meld = {"joy": "happy", "sadness": "sad", "anger": "angry", "neutral": "neutral"}
    kept = [(s, names.index(meld[e])) for s, e in rows if e in meld]
    allowed = {k: enc([s for s, c in kept if c == k]) for k in range(4)}
    labels, t_cond = conds[0]
    assert len(labels) > 0
    for lab, t in zip(labels, t_cond, strict=True):
        assert any(np.array_equal(t, a) for a in allowed[int(lab)])  # a sentence of the requested class
    res = read_json(out.run_dir / "results.json")
    ts = res["outside"]["text_source"]
    assert ts["rows"] == 8 and ts["dropped_labels"] == {"disgust": 1, "surprise": 2}
    from misgan.io import file_sha256

    assert ts["sha256"] == file_sha256(csv)
    cached = list((Path("runs") / "target" / "text-sources").glob("*.npz"))
    assert len(cached) == 1
    # a second run with another fold reuses the encoded matrix (the encoder is not called again)
    calls = FakeText.calls
    cfg2 = AugmentConfig(
        methods=("ours",), text_source=str(csv), folds=("spk-spk02",), classifier=FAST, gan=GAN, tsne=False,
        reference=False,
    )  # fmt: skip
    augment(target, cfg2, progress=False)
    assert FakeText.calls == calls


def test_text_source_needs_a_text_and_label_column(caches, tmp_path):
    target, _, _ = caches
    csv = tmp_path / "bad.csv"
    pd.DataFrame({"sentence": ["a"], "emotion": ["joy"]}).to_csv(csv, index=False)
    with open_store(target) as st, pytest.raises(sources.SourceError, match="columns text and emotion"):
        text_source.load_text_source(st, csv, tmp_path / "tc", lambda line: None)
