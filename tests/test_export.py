"""`misgan export` / `misgan predict` on a tiny synthetic corpus with the offline encoders (eGeMAPS + MiniLM)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import misgan
from misgan.export.bundle import ExportError, export_model
from misgan.export.predict import collect_inputs, load_model, predict_to_csv


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from misgan.data.corpora import load_corpus
    from misgan.pipeline.synthetic import generate_corpus

    w = tmp_path_factory.mktemp("export")
    generate_corpus(w / "c", n_speakers=4, per_class=3, seed=0)
    manifest = load_corpus("csv", w / "c" / "manifest.csv", classes="4")
    cache = w / "x.zarr"
    misgan.extract(manifest, cache, audio_encoder="egemaps", text_encoder="minilm", progress=False)
    align = misgan.AlignConfig(c_grid=(0.1, 1.0), inner_folds=2, reference=False, h_dim=16)
    misgan.align(cache, align, runs_root=w / "runs")
    config = misgan.AugmentConfig(methods=("noise",), tsne=False, reference=False)
    run = misgan.augment(cache, config, runs_root=w / "runs")
    model = export_model(run.run_dir, w / "model", method="noise")
    return {"w": w, "cache": cache, "manifest": manifest, "model": model, "run": run.run_dir}


def test_bundle_is_json_and_safetensors_only(exported):
    files = sorted(p.name for p in exported["model"].iterdir())
    assert files == ["model.json", "weights.safetensors"]
    meta = json.loads((exported["model"] / "model.json").read_text())
    assert meta["label_names"] == ["neutral", "happy", "sad", "angry"]
    assert meta["encoders"]["audio"]["name"] == "egemaps" and meta["encoders"]["text"]["name"] == "minilm"
    assert meta["encoders"]["audio"]["revision"].startswith("opensmile==")  # the revision the cache recorded
    assert meta["method"] == "noise" and meta["trained"]["synthetic_rows"] > 0
    assert meta["trained"]["rows"] == 48 and meta["trained"]["speakers"] == 4
    with misgan.open_store(exported["cache"]) as store:
        assert meta["fingerprints"]["cache"] == store.fingerprint


def test_predict_matches_the_in_memory_model(exported):
    """Files -> encoders -> bundle == the cache's features through a numpy re-implementation of the bundle."""
    from safetensors.numpy import load_file

    model = load_model(exported["model"])
    rows = [0, 7, 19, 30, 47]
    paths = [str(exported["w"] / "c" / p) for p in exported["manifest"]["path"].iloc[rows]]
    got = model.predict(paths)
    assert list(got.columns) == ["path", "label", *[f"p_{n}" for n in model.label_names], "error"]
    probs = got[[f"p_{n}" for n in model.label_names]].to_numpy(float)
    with misgan.open_store(exported["cache"]) as store:
        audio = store.read("audio")[rows]
    wts = load_file(str(exported["model"] / "weights.safetensors"))
    x = (audio - wts["stage1.audio_mean"]) / wts["stage1.audio_std"]
    h = x.astype(np.float64) @ wts["stage1.adapter.basis"]  # the default pca adapter
    logits = h @ wts["clf.audio.model.0.weight"].T + wts["clf.audio.model.0.bias"]
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(probs, ref, atol=2e-4)
    assert list(got["label"]) == [model.label_names[i] for i in ref.argmax(1)]
    assert (got["error"] == "").all()


def test_predict_resumes_and_skips_done_rows(exported, tmp_path, monkeypatch):
    model = load_model(exported["model"])
    paths = [str(exported["w"] / "c" / p) for p in exported["manifest"]["path"].iloc[:5]]
    out = tmp_path / "out.csv"
    first = predict_to_csv(model, paths[:3], None, out, chunk=2)
    assert len(first) == 3
    with out.open("a") as fh:
        fh.write(paths[3] + ",hap")  # a run killed mid-line
    seen: list[str] = []
    real = type(model).predict

    def counting(self, ps, texts=None, **kw):
        seen.extend(ps)
        return real(self, ps, texts, **kw)

    monkeypatch.setattr(type(model), "predict", counting)
    done = predict_to_csv(model, paths, None, out, chunk=2)
    assert seen == paths[3:]  # only the rows not yet complete
    assert list(done["path"]) == paths and done["path"].is_unique
    whole = model.predict(paths)
    np.testing.assert_allclose(done["p_happy"].astype(float), whole["p_happy"], rtol=1e-6)


def test_refuses_a_bundle_whose_encoder_is_missing_or_moved(exported, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(exported["model"], bad)
    meta = json.loads((bad / "model.json").read_text())
    meta["encoders"]["audio"]["revision"] = "opensmile==0.0.1"
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match=r"audio encoder 'egemaps'.*loaded revision opensmile==.*differs"):
        load_model(bad).check_encoders()
    meta["encoders"]["audio"].update(
        name="/no/such/model", model_id="/no/such/model", backend="hf", pooling="mean"
    )
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ExportError, match=r"/no/such/model.*is not available here"):
        load_model(bad).check_encoders()
    from misgan.cli import app

    wav = exported["w"] / "c" / exported["manifest"]["path"].iloc[0]
    result = CliRunner().invoke(app, ["predict", "--model", str(bad), str(wav)])
    assert result.exit_code == 2 and "is not available here" in result.output


def test_cli_export_and_predict_on_a_list_with_transcripts(exported, tmp_path):
    from misgan.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["export", str(exported["run"]), "-o", str(tmp_path / "m"), "--method", "none"])
    assert res.exit_code == 0, res.output
    lst = tmp_path / "list.csv"
    m = exported["manifest"].iloc[:5]
    pd.DataFrame({"path": [str(exported["w"] / "c" / p) for p in m["path"]], "text": m["text"]}).to_csv(
        lst, index=False
    )
    assert collect_inputs(lst)[1] == list(m["text"])
    res = runner.invoke(app, ["predict", "--model", str(tmp_path / "m"), str(lst), "-o", str(tmp_path / "o.csv")])
    assert res.exit_code == 0, res.output
    out = pd.read_csv(tmp_path / "o.csv")
    p = out[[c for c in out.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)
    assert set(out["label"]) <= {"neutral", "happy", "sad", "angry"}
    res = runner.invoke(app, ["export", str(tmp_path), "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "run.json" in res.output


def test_refuses_a_run_on_an_imported_feature_only_cache(exported, tmp_path):
    """Issue 14: an imported cache records an "imported" audio spec that predict cannot load; export used to
    write such a bundle (predict then failed on the spec). It refuses now, before training anything."""
    from misgan.cli import app
    from misgan.features.importer import import_features

    with misgan.open_store(exported["cache"]) as store:
        np.save(tmp_path / "a.npy", store.read("audio"))
        store.meta()[["utt_id", "label", "speaker"]].to_csv(tmp_path / "m.csv", index=False)  # no audio paths
    cache = tmp_path / "fo.zarr"
    import_features(tmp_path / "m.csv", tmp_path / "a.npy", cache).close()
    runs = tmp_path / "runs"
    misgan.align(cache, misgan.AlignConfig(c_grid=(1.0,), inner_folds=2, reference=False, h_dim=8), runs_root=runs)
    config = misgan.AugmentConfig(methods=("none",), tsne=False, reference=False)
    run = misgan.augment(cache, config, runs_root=runs)
    res = CliRunner().invoke(app, ["export", str(run.run_dir), "-o", str(tmp_path / "model")])
    assert res.exit_code == 2, res.output
    assert "`misgan export` (a model for `misgan predict`) needs the audio" in res.output
    assert "feature-only cache" in res.output and not (tmp_path / "model").exists()


def test_logged_warnings_while_training_are_echoed_and_kept(exported, tmp_path, monkeypatch):
    """A weak generator is reported on misgan's logger (issue 12), not as a Python warning: export keeps such
    records in model.json "warnings" too, and echoes each once."""
    import logging

    import misgan.export.train as export_train

    real = export_train.train_classifiers

    def noisy(*args, **kwargs):
        logging.getLogger("misgan.gan").warning(
            "gan: kept generator has a non-positive class-MI bound (-0.2 bits)"
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(export_train, "train_classifiers", noisy)
    lines: list[str] = []
    handlers = list(logging.getLogger("misgan").handlers)
    model = export_model(exported["run"], tmp_path / "m", method="none", echo=lines.append)
    meta = json.loads((model / "model.json").read_text())
    want = "misgan.gan: gan: kept generator has a non-positive class-MI bound (-0.2 bits)"
    assert meta["warnings"] == [want]
    assert lines.count(f"export: warning: {want}") == 1
    assert logging.getLogger("misgan").handlers == handlers  # the collecting handler is removed again


def test_default_method_is_none_unless_an_augmenter_beats_it_significantly():
    """choose_method: a higher mean with p = 1 (two folds) is not chosen; with enough paired units and a
    consistent gain (Holm-corrected p < 0.05) the augmenter is; a significant loss never is."""
    from misgan.export.bundle import choose_method

    def results(gain: float, n: int) -> dict:
        runs = []
        for i in range(n):
            base = 0.5 + 0.01 * (i % 7)
            for variant, uar in (("none", base), ("noise", base + gain + 0.001 * (i % 3)), ("smote", base - 0.02)):
                runs.append({"fold": f"f{i}", "seed": 0, "variant": variant, "ratio": 1.0, "fraction": 1.0,
                             "metrics": {"uar": uar, "wa": uar, "macro_f1": uar}})  # fmt: skip
        return {"runs": runs, "folds": [f"f{i}" for i in range(n)], "seeds": [0], "config": {"ratio": 1.0}}

    methods = ["none", "noise", "smote"]
    assert choose_method(results(0.03, 2), methods) == "none"  # +3 points on 2 folds: p = 0.5
    assert choose_method(results(0.03, 12), methods) == "noise"  # 12 of 12 better: Holm p < 0.05
    assert choose_method(results(-0.03, 12), methods) == "none"
