"""Cross-corpus stage 3 (issue 14 item 2): train on one cache, score another built with the same encoders.

Two synthetic caches share their class means (the same fixture seed, named as two corpora), so a model of
TRAIN transfers to TEST. Each TEST speaker is one paired unit: its UAR is checked against scikit-learn's
balanced accuracy recomputed from the unit's confusion matrix, which must hold exactly that speaker's rows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_sources import AUDIO, FAST, GAN, STAGE1, make_store

from misgan.augmentation import sources
from misgan.augmentation.evaluate import AugmentConfig, augment
from misgan.features.store import open_store
from misgan.io import read_json

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_auc(monkeypatch):
    from misgan.gan import metrics as gan_metrics

    monkeypatch.setattr(gan_metrics, "real_vs_fake_auc", lambda *a, **k: 0.5)


def _other_speakers(train, out):
    """TRAIN's class structure with new speakers (renamed, jittered rows), as another corpus."""
    from misgan.features.store import store_from_arrays

    with open_store(train) as st:
        meta, audio, text, names, attrs = st.meta(), st.read("audio"), st.read("text"), st.label_names, st.attrs
    rng = np.random.default_rng(1)
    meta = meta.drop(columns=["y"])
    meta["speaker"] = "b-" + meta["speaker"].astype(str)
    meta["utt_id"] = "b-" + meta["utt_id"].astype(str)
    audio = audio + rng.normal(0, 0.3, audio.shape).astype(np.float32)
    new = {"corpus": "corpus-b", "encoders": attrs["encoders"]}
    store_from_arrays(out, meta, audio, text, names, new).close()
    return out


@pytest.fixture
def pair(tmp_path, monkeypatch):
    from misgan.alignment.run import align

    monkeypatch.chdir(tmp_path)
    train = make_store(tmp_path / "train.zarr", 0, "corpus-a")
    test = _other_speakers(train, tmp_path / "test.zarr")  # same class means: a transferable task
    align(train, STAGE1, progress=False)
    return train, test


def test_cross_corpus_scores_every_test_speaker_as_a_unit(pair):
    from sklearn.metrics import balanced_accuracy_score

    train, test = pair
    lines: list[str] = []
    cfg = AugmentConfig(methods=("none", "noise"), test_cache=str(test), classifier=FAST, gan=GAN, tsne=False,
                        reference=False)  # fmt: skip
    out = augment(train, cfg, progress=False, echo=lines.append)
    res = read_json(out.run_dir / "results.json")
    with open_store(test) as st:
        speakers = sorted(set(st.meta()["speaker"].astype(str)))
    assert res["folds"] == [f"test-{s}" for s in speakers]  # b-spk00 ...
    assert res["cross_corpus"]["path"] == str(test) and res["cross_corpus"]["rows"] == 80
    assert res["cross_corpus"]["speakers"] == 4
    none = [r for r in res["runs"] if r["variant"] == "none"]
    assert sorted(r["fold"] for r in none) == res["folds"]
    for r in none:  # UAR of the unit = balanced accuracy of its confusion matrix (an independent recomputation)
        cm = np.asarray(r["metrics"]["confusion"])
        true = np.repeat(np.arange(len(cm)), cm.sum(1))
        pred = np.concatenate([np.repeat(np.arange(len(cm)), cm[i]) for i in range(len(cm))])
        assert r["metrics"]["uar"] == pytest.approx(balanced_accuracy_score(true, pred))
        assert cm.sum() == 20  # every row of that TEST speaker, nothing of TRAIN
    assert np.mean([r["metrics"]["uar"] for r in none]) > 0.5  # the shared class structure transfers
    noise = res["summary"]["methods"]["noise"]["vs_none"]
    assert noise["wilcoxon"]["n"] == 4  # the paired units are TEST's speakers
    assert any("cross-corpus" in line and "4 speakers" in line for line in lines)


def test_cross_corpus_reference_row_equals_sklearn_on_every_test_speaker(pair):
    """The reference row: fitted on ALL TRAIN rows (raw audio), C chosen by grouped inner CV over TRAIN's
    speakers, scored per TEST speaker; recomputed with a plain scikit-learn pipeline and GroupKFold search."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from misgan.reference import C_GRID

    train, test = pair
    lines: list[str] = []
    cfg = AugmentConfig(methods=("none",), test_cache=str(test), classifier=FAST, gan=GAN, tsne=False, seeds=2)
    out = augment(train, cfg, progress=False, echo=lines.append)
    res = read_json(out.run_dir / "results.json")
    with open_store(train) as st:
        x, y, g, names = st.read("audio"), st.labels, st.meta()["speaker"].astype(str).to_numpy(), st.label_names
    with open_store(test) as st:
        xt, gt = st.read("audio"), st.meta()["speaker"].astype(str).to_numpy()
        yt = np.array([list(names).index(n) for n in st.meta()["label"]])

    def sk(c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000))

    splits = list(GroupKFold(n_splits=4).split(x, groups=g))
    inner = {
        c: np.mean([balanced_accuracy_score(y[b], sk(c).fit(x[a], y[a]).predict(x[b])) for a, b in splits])
        for c in sorted(C_GRID)
    }
    best = max(inner, key=lambda c: (round(inner[c], 12), -c))
    assert res["cross_corpus"]["reference"]["c"] == best and res["cross_corpus"]["reference"]["train_rows"] == 80
    pred = sk(best).fit(x, y).predict(xt)  # every TRAIN row, no validation hold-out
    refs = [r for r in res["runs"] if r["variant"] == "reference"]
    assert sorted({r["fold"] for r in refs}) == res["folds"] and len(refs) == 2 * len(res["folds"])
    per_unit = {}
    for r in refs:
        rows = gt == r["fold"].removeprefix("test-")
        assert r["metrics"]["uar"] == pytest.approx(balanced_accuracy_score(yt[rows], pred[rows]))
        assert np.asarray(r["metrics"]["confusion"]).sum() == rows.sum() == 20
        per_unit[r["fold"]] = r["metrics"]["uar"]
    stat = res["summary"]["methods"]["reference"]
    assert stat["uar"]["mean"] == pytest.approx(np.mean(list(per_unit.values())))
    assert stat["vs_none"]["wilcoxon"]["n"] == 4  # paired over TEST speakers, like every other row
    assert "vs_reference" in res["summary"]["methods"]["none"]
    report = (out.run_dir / "report.md").read_text()
    assert "| Logistic regression, same features and folds | " in report and "not computed" not in report
    assert f"C = {best:g} by inner grouped CV" in report


def test_cross_corpus_summary_names_the_true_reason_for_a_missing_reference(pair, monkeypatch):
    """The CLI says "not computed (--no-reference)" only when --no-reference was given."""
    from typer.testing import CliRunner

    from misgan.cli import app

    train, test = pair
    base = ["augment", "--cache", str(train), "--test-cache", str(test), "--methods", "none", "--no-tsne",
            "--clf-epochs", "5", "--no-progress"]  # fmt: skip
    on = CliRunner().invoke(app, base)
    assert on.exit_code == 0, on.output
    assert "logistic regression, same features and folds: UAR" in on.output and "not computed" not in on.output
    off = CliRunner().invoke(app, [*base, "--no-reference"])
    assert off.exit_code == 0, off.output
    assert "not computed (--no-reference)" in off.output


def test_cross_corpus_refuses_other_encoders(pair, tmp_path):
    train, _ = pair
    odd = make_store(tmp_path / "odd.zarr", 1, "corpus-c", audio_spec={**AUDIO, "model_id": "other/model"})
    cfg = AugmentConfig(methods=("none",), test_cache=str(odd), classifier=FAST, gan=GAN, tsne=False)
    with pytest.raises(sources.SourceError) as err:
        augment(train, cfg, progress=False)
    assert str(odd) in str(err.value) and str(train) in str(err.value)
