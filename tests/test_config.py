"""The one config loader (misgan.config.load_config) and the CLI options on top of it.

The four regression tests of issue 10 each failed on the old code: flag defaults replaced the YAML
(augment), `seed` in an align YAML was ignored, `lr: "abc"` ended in a traceback (gan), and a shipped
`misgan run` config did not load for `misgan align`. The CLI tests replace the stage function by one that
records the config it receives, so they train nothing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from misgan.alignment.config import AlignConfig, FinetuneConfig
from misgan.augmentation.config import AugmentConfig, ClassifierConfig
from misgan.cli import app
from misgan.config import build, key_fields, load_config, run_sections, to_dict
from misgan.data.config import CorpusConfig
from misgan.errors import ConfigError
from misgan.features.config import ExtractConfig
from misgan.gan.config import GanConfig
from misgan.pipeline.config import PipelineConfig, RunSection, load_pipeline_config
from misgan.runs import RunResult

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
runner = CliRunner()


def _yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """Replace the stage functions the CLI calls; record (name, config, kwargs) of each call."""
    import misgan.alignment.finetune_run
    import misgan.alignment.run
    import misgan.augmentation.evaluate
    import misgan.gan.run

    calls: list[tuple[str, object, dict]] = []

    def fake(kind: str):
        def stage(cache, config, *args, **kwargs):
            calls.append((kind, config, {"args": args, **kwargs}))
            return RunResult(kind, "0" * 64, tmp_path / kind, {"folds": [], "summary": {}}, reused=False)

        return stage

    monkeypatch.setattr(misgan.alignment.run, "align", fake("align"))
    monkeypatch.setattr(misgan.alignment.finetune_run, "finetune", fake("finetune"))
    monkeypatch.setattr(misgan.gan.run, "train_gan", fake("gan"))
    monkeypatch.setattr(misgan.augmentation.evaluate, "augment", fake("augment"))
    return calls


# ---------------------------------------------------------------- the four regressions of issue 10


def test_augment_config_file_is_not_replaced_by_flag_defaults(tmp_path, captured):
    aug = _yaml(tmp_path / "aug.yaml", {"ratio": 2.0, "seeds": 2})
    assert (load_config(AugmentConfig, aug).ratio, load_config(AugmentConfig, aug).seeds) == (2.0, 2)
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--config", str(aug)])
    assert res.exit_code == 0, res.output
    (kind, cfg, _), *_ = captured
    assert kind == "augment" and cfg.ratio == 2.0 and cfg.seeds == 2
    # an option the user gives still wins over the file, the others keep the file's values
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--config", str(aug), "--ratio", "3"])
    assert res.exit_code == 0, res.output
    assert (captured[-1][1].ratio, captured[-1][1].seeds) == (3.0, 2)


def test_align_config_file_seed_is_used(tmp_path, captured):
    path = _yaml(tmp_path / "a.yaml", {"seed": 5})
    assert load_config(AlignConfig, path).seed == 5
    res = runner.invoke(app, ["align", "--cache", "c.zarr", "--config", str(path)])
    assert res.exit_code == 0, res.output
    assert captured[-1][0] == "align" and captured[-1][1].seed == 5
    res = runner.invoke(app, ["align", "--cache", "c.zarr", "--config", str(path), "--seed", "7"])
    assert captured[-1][1].seed == 7


def test_gan_config_with_a_bad_number_is_one_line_naming_file_and_key(tmp_path, captured):
    path = _yaml(tmp_path / "g.yaml", {"lr": "abc"})
    with pytest.raises(ConfigError, match=r"g\.yaml: gan\.lr: must be a number \(got 'abc'\)"):
        load_config(GanConfig, path)
    res = runner.invoke(app, ["gan", "--cache", "c.zarr", "--config", str(path)])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "g.yaml" in lines[0] and "lr" in lines[0], res.output
    assert "Traceback" not in res.output and not captured


def test_align_reads_a_shipped_run_config(captured):
    path = REPO / "configs" / "cpu-offline.yaml"
    raw = yaml.safe_load(path.read_text())
    res = runner.invoke(app, ["align", "--cache", "c.zarr", "--config", str(path)])
    assert res.exit_code == 0, res.output
    cfg = captured[-1][1]
    assert isinstance(cfg, AlignConfig)
    for key, value in raw["align"].items():
        assert getattr(cfg, key) == value
    assert cfg.threads == raw["run"]["threads"] and cfg.seed == raw["run"]["seed"]  # the run section's defaults


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_for_run_and_each_stage(path):
    whole = load_pipeline_config(path)
    for cls, section in ((AlignConfig, "align"), (GanConfig, "gan"), (AugmentConfig, "augment")):
        alone = load_config(cls, path)
        assert alone == getattr(whole, section)
    assert load_config(CorpusConfig, path) == whole.corpus and load_config(ExtractConfig, path) == whole.extract
    # stage 3 looks for the generators `misgan gan` trained with the same file by comparing keys
    assert key_fields(load_config(AugmentConfig, path).gan) == key_fields(load_config(GanConfig, path))


# ---------------------------------------------------------------- the loader


def test_coercion_from_yaml_spellings(tmp_path):
    path = _yaml(
        tmp_path / "x.yaml",
        {"lr": "1e-4", "lambda_y": 2, "betas": [0.4, 0.9], "epochs": "7", "folds": "spk-a, spk-b", "mixup": "no"},
    )
    cfg = load_config(GanConfig, path)
    assert cfg.lr == pytest.approx(1e-4) and isinstance(cfg.lambda_y, float) and cfg.lambda_y == 2.0
    assert cfg.betas == (0.4, 0.9) and cfg.epochs == 7 and cfg.folds == ("spk-a", "spk-b") and cfg.mixup is False
    corpus = load_config(CorpusConfig, _yaml(tmp_path / "c.yaml", {"classes": 4, "options": {"table": "t.csv"}}))
    assert corpus.classes == "4" and corpus.options == {"table": "t.csv"}
    aug = load_config(AugmentConfig, _yaml(tmp_path / "a.yaml", {"mm_hidden": [], "ratios": "0.5,2"}))
    assert aug.mm_hidden == () and aug.ratios == (0.5, 2.0)
    align = load_config(AlignConfig, _yaml(tmp_path / "f.yaml", {"fold_file": None}))
    assert align.fold_file is None


@pytest.mark.parametrize(
    ("cls", "data", "message"),
    [
        (GanConfig, {"lamda_y": 1}, "x.yaml: gan: unknown setting 'lamda_y'; did you mean 'lambda_y'?"),
        (GanConfig, {"epochs": 1.5}, "x.yaml: gan.epochs: must be an integer (got 1.5)"),
        (GanConfig, {"mixup": "maybe"}, "x.yaml: gan.mixup: must be true or false (got 'maybe')"),
        (GanConfig, {"betas": [0.5]}, "x.yaml: gan.betas: must be a list of 2 values (got [0.5])"),
        (AugmentConfig, {"classifier": {"lr": "x"}}, "x.yaml: augment.classifier.lr: must be a number (got 'x')"),
        (
            AugmentConfig,
            {"gan": {"epoch": 3}},
            "x.yaml: augment.gan: unknown setting 'epoch'; did you mean 'epochs'?",
        ),
        (AugmentConfig, {"mm_hidden": ["a"]}, "x.yaml: augment.mm_hidden[0]: must be an integer (got 'a')"),
        (AlignConfig, {"protocol": "loso"}, "x.yaml (align.protocol: 'loso'): align: protocol must be one of"),
        (CorpusConfig, {"options": [1]}, "x.yaml: corpus.options: must be a mapping (got [1])"),
        (
            ExtractConfig,
            {"format": "parquet"},
            "x.yaml (extract.format: 'parquet'): extract: format must be 'zarr' or 'h5'",
        ),
    ],
)
def test_errors_name_the_file_and_the_dotted_key(tmp_path, cls, data, message):
    with pytest.raises(ConfigError) as err:
        load_config(cls, _yaml(tmp_path / "x.yaml", data))
    assert str(err.value).endswith(message) or message in str(err.value), str(err.value)


def test_run_config_sections_and_their_defaults(tmp_path):
    data = {
        "align": {"lr": 0.01},
        "gan": {"epochs": 9, "seed": 4},
        "augment": {"ratio": 2, "gan": {"patience": 3}},
        "run": {"seed": 11, "threads": 2},
    }
    path = _yaml(tmp_path / "run.yaml", data)
    align, gan, aug = (load_config(c, path) for c in (AlignConfig, GanConfig, AugmentConfig))
    assert (align.seed, align.threads, align.lr) == (11, 2, 0.01)  # run.seed / run.threads are the defaults
    assert (gan.seed, gan.epochs) == (4, 9)  # a section's own seed wins
    assert (aug.seed, aug.ratio) == (11, 2.0)
    assert (aug.gan.epochs, aug.gan.seed, aug.gan.patience) == (9, 4, 3)  # the gan section, then augment.gan
    whole = load_pipeline_config(path)
    assert whole.align == align and whole.gan == gan and whole.augment == aug and whole.run.seed == 11
    # a run-wide option reaches every section that sets no seed of its own
    over = load_pipeline_config(path, overrides={"run.seed": 1})
    assert (over.align.seed, over.gan.seed, over.augment.seed) == (1, 4, 1)
    with pytest.raises(ConfigError, match=r"run\.yaml: unknown section 'agument'; did you mean 'augment'\?"):
        run_sections({"agument": {}}, "run.yaml")


def test_a_stage_file_with_a_gan_field_is_not_mistaken_for_a_run_config(tmp_path):
    path = _yaml(tmp_path / "aug.yaml", {"gan": {"epochs": 5}})
    assert load_config(AugmentConfig, path).gan.epochs == 5
    with pytest.raises(ConfigError, match="unknown setting 'gan'"):
        load_config(AlignConfig, _yaml(tmp_path / "al.yaml", {"gan": {"epochs": 5}, "lr": 0.1}))


def test_overrides_are_coerced_nested_and_named_as_the_command_line(tmp_path):
    path = _yaml(tmp_path / "a.yaml", {"gan": {"epochs": 5, "lr": 0.01}, "ratio": 2})
    cfg = load_config(AugmentConfig, path, overrides={"gan.patience": "4", "classifier.max_epochs": 3})
    assert (cfg.gan.epochs, cfg.gan.lr, cfg.gan.patience, cfg.classifier.max_epochs) == (5, 0.01, 4, 3)
    with pytest.raises(ConfigError, match=r"^command line: augment\.gan\.lr: must be a number"):
        load_config(AugmentConfig, path, overrides={"gan.lr": "fast"})
    assert load_config(GanConfig, overrides={"lr": "2e-3"}).lr == pytest.approx(2e-3)


def test_key_fields_leave_out_what_does_not_change_the_output():
    a = AugmentConfig(folds=("x",), threads=3, gan=GanConfig(threads=2, device="cuda", folds=("x",)))
    b = AugmentConfig()
    assert key_fields(a) == key_fields(b) and to_dict(a) != to_dict(b)
    assert "folds" not in key_fields(a) and "threads" not in key_fields(a)["gan"]
    assert key_fields(AugmentConfig(ratio=2.0)) != key_fields(b)
    assert key_fields(ExtractConfig(device="cuda", batch_size=64)) == key_fields(ExtractConfig())
    assert key_fields(AlignConfig(folds=("a",), threads=4)) == key_fields(AlignConfig())


def test_every_training_config_has_seed_threads_and_folds():
    for cls in (AlignConfig, GanConfig, AugmentConfig):
        names = {f.name for f in dataclasses.fields(cls)}
        assert {"seed", "threads", "folds"} <= names
        assert {"folds", "threads"} <= set(cls.NOT_IN_KEY) <= names


# ---------------------------------------------------------------- the CLI surface


def test_cli_options_reach_the_config_and_only_given_ones(tmp_path, captured):
    path = _yaml(tmp_path / "aug.yaml", {"methods": ["none", "smote"], "gan": {"epochs": 7}})
    args = ["augment", "--cache", "c.zarr", "--config", str(path), "--fold", "a", "--fold", "b"]
    res = runner.invoke(app, [*args, "--gan-patience", "3", "--clf-epochs", "9", "--threads", "2"])
    assert res.exit_code == 0, res.output
    _, cfg, kw = captured[-1]
    assert cfg.methods == ("none", "smote") and cfg.folds == ("a", "b") and cfg.threads == 2
    assert (cfg.gan.epochs, cfg.gan.patience, cfg.classifier.max_epochs) == (7, 3, 9)
    assert kw["echo"] is not None  # not a terminal: one plain line per fold
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--compare", "--gan-run", "g"])
    assert res.exit_code == 0, res.output
    from misgan.augmentation.augmenters import METHODS

    assert captured[-1][1].methods == METHODS and str(captured[-1][2]["gan_run"]) == "g"
    # the same options on gan and augment give the same generator settings: augment finds gan's run by key
    same = ["--cache", "c.zarr", "--seed", "3", "--epochs", "20", "--threads", "1"]
    assert runner.invoke(app, ["gan", *same]).exit_code == 0
    assert runner.invoke(app, ["augment", *same, "--gan-patience", "50"]).exit_code == 0
    assert key_fields(captured[-2][1]) == key_fields(captured[-1][1].gan)
    res = runner.invoke(app, ["gan", "--cache", "c.zarr", "--no-text", "--fold", "x", "--seed", "3"])
    assert res.exit_code == 0, res.output
    gan = captured[-1][1]
    assert (gan.use_text, gan.text_mode, gan.folds, gan.seed, gan.use_mi) == (False, "none", ("x",), 3, True)


def test_finetune_options_go_to_the_encoder_run(tmp_path, captured):
    res = runner.invoke(app, ["align", "--cache", "c.zarr", "--finetune", "--epochs", "2", "--lr", "0.5"])
    assert res.exit_code == 0, res.output
    kind, align, kw = captured[-1]
    ft = kw["args"][0]
    assert kind == "finetune" and isinstance(ft, FinetuneConfig)
    assert (ft.epochs, ft.head_lr, align.epochs, align.lr) == (2, 0.5, AlignConfig.epochs, AlignConfig.lr)


def test_help_shows_defaults_from_the_dataclasses_and_no_markup_eats_text():
    text = runner.invoke(app, ["align", "--help"]).output
    for name in ("epochs", "lr", "patience"):
        assert f"[default: {getattr(AlignConfig, name)}]" in " ".join(text.split())
    assert "[manifests/<corpus>.csv;" in runner.invoke(app, ["manifest", "--help"]).output
    for command in ("align", "gan", "augment", "run"):
        out = runner.invoke(app, [command, "--help"]).output
        assert "--seed" in out and "--threads" in out, command
    assert "--all-folds" not in runner.invoke(app, ["gan", "--help"]).output
    assert "--folds" not in runner.invoke(app, ["augment", "--help"]).output


# ---------------------------------------------------------------- fuzz: nothing but ConfigError

CLASSES = (
    AlignConfig,
    FinetuneConfig,
    GanConfig,
    AugmentConfig,
    ClassifierConfig,
    CorpusConfig,
    ExtractConfig,
    RunSection,
    PipelineConfig,
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_wrong_types_and_unknown_keys_raise_only_config_error(cls, data):
    names = [f.name for f in dataclasses.fields(cls)]
    keys = st.one_of(st.sampled_from(names), st.text(max_size=8))
    raw = data.draw(st.dictionaries(keys, values, max_size=4))
    for attempt in (lambda: build(cls, raw, "f.yaml"), lambda: load_config(cls, None, overrides=raw)):
        try:
            out = attempt()
        except ConfigError as exc:
            assert str(exc)
        else:
            assert isinstance(out, cls)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.dictionaries(
        st.one_of(st.sampled_from(["corpus", "extract", "align", "gan", "augment", "run"]), st.text(max_size=8)),
        st.one_of(values, st.dictionaries(st.sampled_from(["seed", "threads", "gan", "lr", "epochs"]), values)),
        max_size=4,
    )
)
def test_fuzz_whole_run_configs_raise_only_config_error(raw):
    from misgan.pipeline.config import config_from_dict

    try:
        out = config_from_dict(raw, "run.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("run.yaml: ")
    else:
        assert isinstance(out, PipelineConfig)


# ---------------------------------------------------------------- where a bad value came from


def test_a_check_failing_on_a_command_line_value_names_the_option_not_the_defaults(tmp_path):
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--ratio", "0"])
    assert res.exit_code != 0
    line = res.output.strip().splitlines()[-1]
    assert line.startswith("error: --ratio 0.0 (command line): augment.ratio/ratios/gate_ratios: 0.0 is not a"), (
        line
    )
    assert "<defaults>" not in res.output
    # a renamed option is found by its value; a list option shows what was typed
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--ratios", "0.5,0"])
    assert "error: --ratios 0.5,0 (command line): augment.ratio/ratios/gate_ratios" in res.output, res.output
    res = runner.invoke(app, ["gan", "--cache", "c.zarr", "--lr", "0"])
    assert "error: --lr 0.0 (command line): gan: need lr > 0" in res.output, res.output
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--ratios", "0.5,x"])
    assert "error: --ratios 0.5,x (command line): augment.ratios[1]: must be a number (got 'x')" in res.output


def test_a_check_failing_on_a_file_value_names_the_file_and_key(tmp_path):
    path = _yaml(tmp_path / "aug.yaml", {"ratio": 0, "seeds": 2})
    with pytest.raises(ConfigError) as err:
        load_config(AugmentConfig, path)
    assert str(err.value).startswith(f"{path} (augment.ratio: 0.0): augment.ratio/ratios/gate_ratios: 0.0 is")
    run = _yaml(tmp_path / "run.yaml", {"gan": {"lr": 0, "epochs": 3}})
    with pytest.raises(ConfigError, match=rf"^{run} \(gan\.lr: 0\.0\): gan: need lr > 0"):
        load_config(GanConfig, run)
    # the file is fine, the option is not: the option is named, not the file
    good = _yaml(tmp_path / "ok.yaml", {"ratio": 2.0})
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--config", str(good), "--ratio", "-1"])
    assert "error: --ratio -1.0 (command line): augment.ratio" in res.output and str(good) not in res.output
    # and the other way round: a bad file value with an unrelated option given
    res = runner.invoke(app, ["augment", "--cache", "c.zarr", "--config", str(path), "--seeds", "3"])
    assert f"error: {path} (augment.ratio: 0.0): " in res.output, res.output
    # without a command (load_config called directly) overrides are "command line" with their key
    with pytest.raises(ConfigError, match=r"^command line \(augment\.ratio: 0\.0\): augment\.ratio/ratios"):
        load_config(AugmentConfig, overrides={"ratio": 0})


def test_config_path_that_is_not_a_usable_file_says_what_is_wrong(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing here\n")
    cases = [
        ("/dev/null", "/dev/null: not a regular file (a device, pipe or socket)"),
        (str(empty), f"{empty}: empty config file (no settings)"),
        (str(tmp_path), f"{tmp_path}: a directory, not a config file"),
        (str(tmp_path / "missing.yaml"), f"{tmp_path / 'missing.yaml'}: config file not found"),
    ]
    for path, message in cases:
        with pytest.raises(ConfigError) as err:
            load_config(GanConfig, path)
        assert str(err.value).startswith(message), str(err.value)
    res = runner.invoke(app, ["gan", "--cache", "c.zarr", "--config", "/dev/null"])
    assert res.exit_code != 0 and "error: /dev/null: not a regular file" in res.output, res.output
    assert "not found" not in res.output
    assert load_config(GanConfig, _yaml(tmp_path / "map.yaml", {})) == GanConfig()  # `{}` is an explicit mapping
