"""`misgan run`: config parsing, step fingerprints, skip/resume logic, and the example configs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from misgan.errors import ConfigError
from misgan.features.store import open_store
from misgan.pipeline import runner as pipeline
from misgan.runs import StageRun

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "configs").glob("*.yaml"))


# ---------------------------------------------------------------- config


def test_every_paper_setting_has_an_example_config():
    names = {p.name for p in EXAMPLES}
    for name in (
        "iemocap-ast-bert.yaml",
        "iemocap-multimodal.yaml",
        "msp-improv-multimodal.yaml",
        "msp-podcast-llama2.yaml",
        "cpu-offline.yaml",
    ):
        assert name in names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_parse_into_the_dataclasses(path):
    from misgan.alignment.adapter import AlignConfig
    from misgan.augmentation.evaluate import AugmentConfig
    from misgan.gan.train import GanConfig

    cfg = pipeline.load_config(path)
    raw = yaml.safe_load(path.read_text())
    protocol, align, gan, augment = pipeline.stage_configs(cfg.align, cfg.gan, cfg.augment, str(path))
    assert isinstance(align, AlignConfig) and isinstance(gan, GanConfig) and isinstance(augment, AugmentConfig)
    # every value written in the file arrives in the dataclass (nothing silently dropped)
    assert cfg.corpus.name == raw["corpus"]["name"]
    assert cfg.extract.audio_encoder == raw["extract"]["audio_encoder"]
    assert protocol["protocol"] == raw["align"]["protocol"]
    for key, value in raw.get("gan", {}).items():
        assert getattr(gan, key) == (tuple(value) if isinstance(value, list) else value)
    for key, value in raw.get("augment", {}).items():
        got = getattr(augment, key)
        if dataclasses.is_dataclass(got):
            for k, v in value.items():
                assert getattr(got, k) == v
        else:
            assert got == (tuple(value) if isinstance(value, list) else value)


def test_the_paper_settings_are_what_the_paper_says():
    bert = pipeline.load_config(REPO / "configs" / "iemocap-ast-bert.yaml")
    assert (bert.extract.audio_encoder, bert.extract.text_encoder) == ("ast", "bert")
    podcast = pipeline.load_config(REPO / "configs" / "msp-podcast-llama2.yaml")
    assert podcast.extract.text_encoder == "llama2-7b" and podcast.augment.balance is True
    assert list(podcast.augment.mm_hidden) == [256, 128]
    improv = pipeline.load_config(REPO / "configs" / "msp-improv-multimodal.yaml")
    assert list(improv.augment.mm_hidden) == [256] and improv.extract.audio_encoder == "wav2vec2-msp"


def test_every_setting_is_documented_in_config_md():
    from misgan.alignment.adapter import AlignConfig
    from misgan.augmentation.classifier import ClassifierConfig
    from misgan.augmentation.evaluate import AugmentConfig
    from misgan.gan.train import GanConfig

    doc = (REPO / "docs" / "config.md").read_text()
    classes = (
        pipeline.CorpusSection,
        pipeline.ExtractSection,
        pipeline.RunSection,
        AlignConfig,
        GanConfig,
        AugmentConfig,
        ClassifierConfig,
    )
    missing = [
        f"{c.__name__}.{f.name}" for c in classes for f in dataclasses.fields(c) if f"| `{f.name}` |" not in doc
    ]
    missing += [k for k in pipeline.ALIGN_PROTOCOL_KEYS if f"| `{k}` |" not in doc]
    assert not missing, f"docs/config.md lacks {missing}"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("gan:\n  epoch: 3\n", "epoch"),
        ("align:\n  protocol: loso-speaker\n  hdim: 3\n", "hdim"),
        ("augment:\n  classifier:\n    hiden: [3]\n", "hiden"),
        ("extract:\n  audio: egemaps\n", "audio"),
        ("stage4:\n  x: 1\n", "stage4"),
        ("align:\n  protocol: loso\n", "loso"),
        ("extract:\n  format: parquet\n", "parquet"),
        ("gan:\n  lr: fast\n", "lr"),
        ("align:\n  epochs: 1.5\n", "epochs"),
        ("gan:\n  mixup: maybe\n", "mixup"),
        ("align:\n  k: three\n", "k"),
        ("augment:\n  classifier:\n    lr: x\n", "lr"),
    ],
)
def test_bad_keys_are_errors_naming_the_file_and_key(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        pipeline.load_config(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_yaml_spellings_that_are_not_errors(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("corpus:\n  classes: 4\ngan:\n  lr: 1e-4\n  lambda_y: 2\n")  # 1e-4 is a string in YAML
    cfg = pipeline.load_config(path)
    _, _, gan, _ = pipeline.stage_configs(cfg.align, cfg.gan, cfg.augment, str(path))
    assert cfg.corpus.classes == "4" and gan.lr == pytest.approx(1e-4) and gan.lambda_y == 2


def test_cli_reports_config_errors_as_one_line(tmp_path):
    from misgan.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text("gan:\n  epoch: 3\n")
    res = CliRunner().invoke(app, ["run", str(path)])
    assert res.exit_code == 2
    assert "bad.yaml" in res.output and "epoch" in res.output and "Traceback" not in res.output


# ---------------------------------------------------------------- fingerprints


def test_fingerprint_is_stable_across_processes_and_sensitive_to_settings():
    fp = pipeline.fingerprint("gan", {"epochs": 3, "lr": 1e-4}, "abc")
    code = (
        "from misgan.pipeline import runner as pipeline; "
        "print(pipeline.fingerprint('gan', {'lr': 1e-4, 'epochs': 3}, 'abc'))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == fp  # key order and process do not matter
    assert pipeline.fingerprint("gan", {"epochs": 4, "lr": 1e-4}, "abc") != fp
    assert pipeline.fingerprint("gan", {"epochs": 3, "lr": 1e-4}, "abd") != fp
    assert pipeline.fingerprint("augment", {"epochs": 3, "lr": 1e-4}, "abc") != fp


def test_device_and_batch_size_do_not_change_the_extract_fingerprint():
    base = {"corpus": {"root": "x"}, "run": {"name": "r"}}
    a = pipeline.config_from_dict({**base, "extract": {"device": "cpu", "batch_size": 4}})
    b = pipeline.config_from_dict({**base, "extract": {"device": "cuda", "batch_size": 64}})
    c = pipeline.config_from_dict({**base, "extract": {"audio_encoder": "compare"}})
    sa, sb, sc = (pipeline.step_settings(x)["extract"] for x in (a, b, c))
    assert sa == sb and sa != sc


# ---------------------------------------------------------------- end to end


def _tiny_config(workdir: Path, gan_epochs: int = 2) -> dict:
    return {
        "corpus": {"name": "csv", "root": str(workdir / "corpus"), "manifest": str(workdir / "manifest.csv")},
        "extract": {"audio_encoder": "egemaps", "text_encoder": "minilm", "output": str(workdir / "cache.zarr")},
        "align": {"protocol": "loso-speaker", "h_dim": 8, "epochs": 3, "patience": 2},
        "gan": {"epochs": gan_epochs, "patience": 0, "eval_rows": 64, "threads": 1},
        "augment": {"methods": ["none", "ours"], "tsne": False, "classifier": {"max_epochs": 5, "patience": 2}},
        "run": {"name": "tiny", "seed": 0, "runs_dir": str(workdir / "runs")},
    }


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under `path`."""
    import hashlib

    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*"))
            if p.is_file()}  # fmt: skip


def _write(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_run_end_to_end_then_skip_then_rerun_from_the_changed_step(tmp_path, monkeypatch):
    import torch

    from misgan.cli import app
    from misgan.data.manifest import read_manifest
    from misgan.pipeline.synthetic import generate_corpus

    torch.set_num_threads(1)
    generate_corpus(tmp_path / "corpus", n_speakers=4, per_class=3, seed=0)
    cfg = _tiny_config(tmp_path)
    import misgan.alignment.run

    # the cache as extraction left it (taken when stage 1 starts): no later step may change one byte of it
    real_align, extracted = misgan.alignment.run.align, {}

    def align_after_snapshot(cache, *a, **k):
        extracted.update(tree_digest(Path(cache)))
        return real_align(cache, *a, **k)

    monkeypatch.setattr(misgan.alignment.run, "align", align_after_snapshot)
    first = pipeline.run(pipeline.config_from_dict(cfg, "tiny.yaml"), echo=lambda s: None, progress=False)
    monkeypatch.undo()
    assert first.steps == dict.fromkeys(pipeline.STEPS, "ran")
    methods = first.results["summary"]["methods"]
    assert set(methods) == {"reference", "none", "ours"} and methods["none"]["n_folds"] == 4
    assert (first.run_dir / "report.md").is_file()
    cache = tmp_path / "cache.zarr"
    assert extracted and tree_digest(cache) == extracted
    # the pipeline's state is its own folder's pipeline.json; the stages' results are keyed run folders
    state = pipeline.read_state(first.run_dir)
    assert {s: v["key"] for s, v in state["steps"].items()} == first.fingerprints
    assert all(v["status"] == "ran" for v in state["steps"].values())
    for kind in ("align", "gan", "augment"):
        run = StageRun.open(first.runs[kind])
        assert run.kind == kind and run.complete and run.key == first.fingerprints[kind]
        assert state["steps"][kind]["path"] == str(first.runs[kind])
    assert StageRun.open(first.runs["gan"]).upstream == {"align": first.fingerprints["align"]}
    assert first.results["gan_run"]["key"] == first.fingerprints["gan"] and not first.results["gan_run"]["trained"]
    with open_store(cache) as store:
        assert not [k for k in store.attrs if k.startswith("pipeline")]

    # a second run redoes nothing: prove it by making every step's work impossible
    import misgan.alignment.run
    import misgan.augmentation.evaluate
    import misgan.features.extract
    import misgan.gan.run
    import misgan.report.build

    def boom(*a, **k):
        raise AssertionError("a step ran although its output was up to date")

    monkeypatch.setattr(misgan.features.extract, "extract", boom)
    monkeypatch.setattr(misgan.gan.run, "train_gan", boom)
    monkeypatch.setattr(misgan.augmentation.evaluate, "augment", boom)
    monkeypatch.setattr(misgan.alignment.run, "align", boom)
    monkeypatch.setattr(misgan.report.build, "build_report", boom)
    res = CliRunner().invoke(app, ["run", str(_write(cfg, tmp_path / "tiny.yaml")), "--no-progress"])
    assert res.exit_code == 0, res.output
    for step in pipeline.STEPS:
        assert f"[{step}] skip" in res.output
    assert "| No augmentation |" in res.output  # the table is printed from the existing results

    # a change in a late step reruns that step and the ones after it, nothing before
    monkeypatch.undo()
    changed = pipeline.run(pipeline.config_from_dict(_tiny_config(tmp_path, gan_epochs=3)), echo=lambda s: None)
    assert changed.steps == {
        "corpus": "skipped",
        "extract": "skipped",
        "align": "skipped",
        "gan": "ran",
        "augment": "ran",
        "report": "ran",
    }
    assert changed.fingerprints["align"] == first.fingerprints["align"]
    assert changed.fingerprints["gan"] != first.fingerprints["gan"]
    assert changed.runs["gan"] != first.runs["gan"] and StageRun.open(first.runs["gan"]).complete  # both kept
    assert tree_digest(cache) == extracted

    # --from forces a step (and the later ones) even when up to date
    forced = pipeline.run(pipeline.config_from_dict(_tiny_config(tmp_path, gan_epochs=3)), from_step="report")
    assert [s for s, v in forced.steps.items() if v == "ran"] == ["report"]

    # the corpus changed on disk (a row dropped): the manifest is rewritten and extraction reruns
    table = tmp_path / "corpus" / "manifest.csv"
    table.write_text("".join(table.read_text().splitlines(keepends=True)[:-1]))

    class Reran(Exception):
        pass

    def extract_called(*a, **k):
        raise Reran

    monkeypatch.setattr(misgan.features.extract, "extract", extract_called)
    with pytest.raises(Reran):
        pipeline.run(pipeline.config_from_dict(_tiny_config(tmp_path, gan_epochs=3)), echo=lambda s: None)
    assert len(read_manifest(tmp_path / "manifest.csv")) == 4 * 4 * 3 - 1


def test_an_interrupted_run_resumes_at_the_failed_step(tmp_path, monkeypatch):
    import torch

    import misgan.gan.run
    from misgan.pipeline.synthetic import generate_corpus

    torch.set_num_threads(1)
    generate_corpus(tmp_path / "corpus", n_speakers=4, per_class=2, seed=1)
    cfg = pipeline.config_from_dict(_tiny_config(tmp_path))
    real = misgan.gan.run.train_gan

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(misgan.gan.run, "train_gan", killed)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(cfg, echo=lambda s: None)
    assert "gan" not in pipeline.read_state(cfg.run_dir)["steps"]
    monkeypatch.setattr(misgan.gan.run, "train_gan", real)
    resumed = pipeline.run(cfg, echo=lambda s: None)
    assert [s for s, v in resumed.steps.items() if v == "skipped"] == ["corpus", "extract", "align"]
    assert resumed.steps["gan"] == "ran"


@pytest.mark.slow
def test_demo_command_end_to_end(tmp_path):
    from misgan.cli import app

    res = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "demo"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "| No augmentation |" in res.output and "| Ours" in res.output
    again = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "demo"), "--no-progress"])
    assert again.exit_code == 0 and again.output.count("skip") == len(pipeline.STEPS)


@pytest.mark.slow
def test_a_run_config_naming_two_corpora_trains_on_one_and_scores_the_other(tmp_path):
    """`augment.test_cache` in a `misgan run` config: the pipeline's corpus is the training corpus, the named
    cache (same encoders) is scored, one paired unit per test speaker (issue 14, item 2)."""
    import torch

    from misgan.features.encoders import load_encoder
    from misgan.features.extract import extract
    from misgan.pipeline.synthetic import generate_corpus

    torch.set_num_threads(1)
    generate_corpus(tmp_path / "corpus", n_speakers=4, per_class=3, seed=0)
    other = generate_corpus(tmp_path / "other", n_speakers=3, per_class=3, seed=7)
    other["speaker"] = "other-" + other["speaker"].astype(str)
    other["path"] = [str(tmp_path / "other" / p) for p in other["path"]]
    extract(
        other,
        tmp_path / "other.zarr",
        audio_encoder=load_encoder("egemaps", "cpu", modality="audio"),
        text_encoder=load_encoder("minilm", "cpu", modality="text"),
        corpus="other",
        progress=False,
    )
    cfg = _tiny_config(tmp_path)
    cfg["augment"] = {**cfg["augment"], "methods": ["none", "noise"], "test_cache": str(tmp_path / "other.zarr")}
    out = pipeline.run(pipeline.config_from_dict(cfg, "two.yaml"), echo=lambda s: None, progress=False)
    units = {r["fold"] for r in out.results["runs"] if r["variant"] == "none"}
    assert len(units) == 3 and all("other-" in u for u in units), units  # the other corpus's speakers
    assert set(out.results["summary"]["methods"]) >= {"none", "noise"}


def test_a_run_config_with_a_fold_subset_completes_and_reruns_as_up_to_date(tmp_path):
    """`align.folds` names a subset: the stage runs stay open by design (folds are not in the keys, H6 found
    `misgan run` then always failed), yet the pipeline accepts each run that holds every fold it asked for,
    and a second call skips every step."""
    import torch

    from misgan.pipeline.synthetic import generate_corpus

    torch.set_num_threads(1)
    generate_corpus(tmp_path / "corpus", n_speakers=4, per_class=3, seed=0)
    cfg = _tiny_config(tmp_path)
    cfg["align"]["folds"] = ["spk-spk01", "spk-spk02"]
    first = pipeline.run(pipeline.config_from_dict(cfg, "subset.yaml"), echo=lambda s: None, progress=False)
    assert first.steps == dict.fromkeys(pipeline.STEPS, "ran")
    assert first.results["folds"] == ["spk-spk01", "spk-spk02"]
    for kind in ("align", "gan", "augment"):
        run = StageRun.open(first.runs[kind])
        assert not run.complete and not (run.path / "writer.lock.json").exists()
    again = pipeline.run(pipeline.config_from_dict(cfg, "subset.yaml"), echo=lambda s: None, progress=False)
    assert again.steps == dict.fromkeys(pipeline.STEPS, "skipped")
