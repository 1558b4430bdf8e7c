"""Audio-only corpora (issue 14 item 8): a cache without text runs stages 2 and 3 (G(z, c) without L_It,
unimodal stage 3, said once) and `misgan run` end to end; multimodal on such a cache is a clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from store_fixtures import make_feature_store

from misgan.alignment.config import AlignConfig
from misgan.augmentation.classifier import AugmentError, ClassifierConfig
from misgan.augmentation.evaluate import AugmentConfig, augment
from misgan.gan.config import GanConfig
from misgan.io import read_json

torch.set_num_threads(1)
GAN = GanConfig(epochs=2, patience=0, batch_size=64, threads=1)
FAST = ClassifierConfig(max_epochs=20, patience=5)
STAGE1 = AlignConfig(h_dim=6, epochs=2, batch_size=32, patience=2)


@pytest.fixture(autouse=True)
def _no_auc(monkeypatch):
    from misgan.gan import metrics as gan_metrics

    monkeypatch.setattr(gan_metrics, "real_vs_fake_auc", lambda *a, **k: 0.5)


@pytest.fixture
def audio_cache(tmp_path, monkeypatch):
    from misgan.alignment.run import align

    monkeypatch.chdir(tmp_path)
    store = make_feature_store(tmp_path / "audio.zarr", n_speakers=4, per_class=5, da=8, dt=0)
    assert "text" not in store.dims or store.dims["text"] is None
    store.close()
    align(tmp_path / "audio.zarr", STAGE1, progress=False)
    return tmp_path / "audio.zarr"


def test_stage2_and_3_on_an_audio_only_cache(audio_cache):
    from misgan.gan.run import train_gan
    from misgan.gan.train import load_generator

    lines: list[str] = []
    gan = train_gan(audio_cache, GAN, progress=False, echo=lines.append)
    assert sum("audio-only" in line for line in lines) == 1  # said once
    run_cfg = read_json(Path(gan.run_dir) / "run.json")["config"]
    assert run_cfg["use_text"] is False and run_cfg["text_mode"] == "none"
    g, _ = load_generator(Path(gan.run_dir) / "folds" / "spk-spk00" / "generator.pt")
    assert not g.use_text  # G(z, c): no text input
    cfg = AugmentConfig(
        methods=("none", "noise", "ours"), classifier=FAST, gan=GAN, tsne=False, folds=("spk-spk00",)
    )
    lines.clear()
    out = augment(audio_cache, cfg, progress=False, echo=lines.append)
    assert any("audio-only" in line and "unimodal" in line for line in lines)
    res = read_json(out.run_dir / "results.json")
    assert {"none", "noise", "ours"} <= {r["variant"] for r in res["runs"]}
    assert res["gan_run"]["key"] == gan.key  # stage 3 found the generators `train_gan` made (same auto settings)
    for r in res["runs"]:
        assert 0.0 <= r["metrics"]["uar"] <= 1.0


def test_multimodal_on_an_audio_only_cache_is_a_clear_error(audio_cache):
    cfg = AugmentConfig(multimodal=True, classifier=FAST, gan=GAN, tsne=False)
    with pytest.raises(AugmentError, match=r"audio-only cache.*multimodal needs text"):
        augment(audio_cache, cfg, progress=False)


def test_misgan_run_end_to_end_without_text(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from misgan.cli import app
    from misgan.pipeline.synthetic import generate_corpus

    monkeypatch.chdir(tmp_path)
    generate_corpus(tmp_path / "corpus", n_speakers=4, per_class=3, seed=0)
    cfg = {
        "corpus": {"name": "csv", "root": str(tmp_path / "corpus"), "manifest": str(tmp_path / "manifest.csv")},
        "extract": {"audio_encoder": "egemaps", "text_encoder": "", "output": str(tmp_path / "cache.zarr")},
        "align": {"protocol": "loso-speaker", "h_dim": 8, "epochs": 3, "patience": 2},
        "gan": {"epochs": 2, "patience": 0, "eval_rows": 64, "threads": 1},
        "augment": {"methods": ["none", "ours"], "tsne": False, "classifier": {"max_epochs": 5, "patience": 2}},
        "run": {"name": "tiny", "seed": 0, "runs_dir": str(tmp_path / "runs")},
    }
    path = tmp_path / "audio.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = CliRunner().invoke(app, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "audio-only" in res.output
    results = sorted((tmp_path / "runs").rglob("results.json"))
    assert results, res.output
    got = read_json(results[-1])
    assert {"none", "ours"} <= {r["variant"] for r in got["runs"]}
    assert np.isfinite([r["metrics"]["uar"] for r in got["runs"]]).all()
    # the exported bundle (stage 1 + classifier, no text side) predicts new audio without transcripts
    augment_run = results[-1].parent
    res = CliRunner().invoke(app, ["export", str(augment_run), "-o", str(tmp_path / "model"), "--method", "ours"])
    assert res.exit_code == 0, res.output
    wavs = sorted((tmp_path / "corpus").rglob("*.wav"))[:5]
    out = tmp_path / "pred.csv"
    listing = tmp_path / "five.csv"
    listing.write_text("path\n" + "\n".join(str(w) for w in wavs) + "\n")
    res = CliRunner().invoke(app, ["predict", "--model", str(tmp_path / "model"), str(listing), "-o", str(out)])
    assert res.exit_code == 0, res.output
    import pandas as pd

    table = pd.read_csv(out)
    probs = table[[c for c in table.columns if c.startswith("p_")]].to_numpy()
    assert len(table) == 5 and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert set(table["label"]) <= {c[2:] for c in table.columns if c.startswith("p_")}
