"""The `misgan run` config: one YAML file, six sections mirroring the stages (docs/config.md),
and the per-step fingerprints that decide what a run may skip.

`corpus`, `extract` and `run` are defined here; `align`, `gan` and `augment` are the stages' own
dataclasses (align.AlignConfig plus the fold protocol, gan.GanConfig, evaluate.AugmentConfig), kept
as dicts in PipelineConfig and built by `stage_configs` so parsing this module imports no stage.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from misgan.config import from_dict, load_yaml, to_dict
from misgan.errors import ConfigError

# ---------------------------------------------------------------- config


@dataclass(frozen=True)
class CorpusSection:
    name: str = "csv"  # corpus reader (misgan.data.corpora.CORPORA): iemocap, msp-improv, msp-podcast, csv, ...
    root: str = ""  # corpus folder (for `csv`: the folder holding manifest.csv, or the CSV file itself)
    classes: str = "4"  # "4" (neutral, happy, sad, angry) or "all"
    manifest: str = ""  # where the manifest CSV is written; "" = manifests/<run.name>.csv
    options: dict[str, Any] = field(default_factory=dict)  # extra keyword arguments of the reader


@dataclass(frozen=True)
class ExtractSection:
    audio_encoder: str = "egemaps"  # registry name, HF id or local folder (`misgan encoders`)
    text_encoder: str = "minilm"  # "" = no text features
    format: str = "zarr"  # "zarr" or "h5"
    device: str = "cpu"  # not part of the fingerprint: it does not change the features
    batch_size: int = 16  # not part of the fingerprint either
    output: str = ""  # cache path; "" = cache/<run.name>.<format>


@dataclass(frozen=True)
class RunSection:
    name: str = "run"  # run folder name under runs_dir; also names the default manifest and cache
    seed: int = 0  # one seed for every step (misgan.runs.seed_everything)
    runs_dir: str = "runs"  # folder holding run folders
    threads: int = 0  # torch CPU threads for the run (0: torch's default); 1 is fastest for small features


@dataclass(frozen=True)
class PipelineConfig:
    corpus: CorpusSection
    extract: ExtractSection
    align: dict[str, Any]  # protocol, k, fold_file + stage-1 settings (align.AlignConfig)
    gan: dict[str, Any]  # stage-2 settings (gan.GanConfig)
    augment: dict[str, Any]  # stage-3 settings (evaluate.AugmentConfig)
    run: RunSection

    @property
    def manifest_path(self) -> Path:
        return Path(self.corpus.manifest or f"manifests/{self.run.name}.csv")

    @property
    def cache_path(self) -> Path:
        suffix = "h5" if self.extract.format == "h5" else "zarr"
        return Path(self.extract.output or f"cache/{self.run.name}.{suffix}")

    @property
    def run_dir(self) -> Path:
        return Path(self.run.runs_dir) / self.run.name


SECTIONS = ("corpus", "extract", "align", "gan", "augment", "run")
ALIGN_PROTOCOL_KEYS = ("protocol", "k", "fold_file")


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> PipelineConfig:
    """Parse and validate a whole pipeline config; errors name `source` and the offending key."""
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    for name in SECTIONS:
        if data.get(name) is not None and not isinstance(data[name], dict):
            raise ConfigError(f"{source}: section {name!r} must be a mapping")
    corpus = _build(CorpusSection, data.get("corpus") or {}, f"{source}: corpus")
    extract = _build(ExtractSection, data.get("extract") or {}, f"{source}: extract")
    run = _build(RunSection, data.get("run") or {}, f"{source}: run")
    if extract.format not in ("zarr", "h5"):
        raise ConfigError(f"{source}: extract.format must be 'zarr' or 'h5' (got {extract.format!r})")
    align = dict(data.get("align") or {})
    gan = dict(data.get("gan") or {})
    augment = dict(data.get("augment") or {})
    # build the stage dataclasses now so a typo fails before hours of extraction, not after
    stage_configs(align, gan, augment, source)
    return PipelineConfig(corpus, extract, align, gan, augment, run)


def load_config(path: str | Path) -> PipelineConfig:
    return config_from_dict(load_yaml(path), str(path))


def stage_configs(align: dict[str, Any], gan: dict[str, Any], augment: dict[str, Any], source: str) -> tuple:
    """(protocol settings, AlignConfig, GanConfig, AugmentConfig) built from the three stage sections."""
    from misgan.alignment.adapter import AlignConfig
    from misgan.augmentation.evaluate import AugmentConfig
    from misgan.data.folds import PROTOCOLS
    from misgan.gan.train import GanConfig

    protocol = {
        "protocol": align.get("protocol", "loso-speaker"),
        "k": align.get("k", 5),
        "fold_file": align.get("fold_file"),
    }
    if not isinstance(protocol["k"], int) or isinstance(protocol["k"], bool):
        raise ConfigError(f"{source}: align.k must be an integer (got {protocol['k']!r})")
    if protocol["protocol"] not in PROTOCOLS:
        raise ConfigError(
            f"{source}: align.protocol {protocol['protocol']!r} is not one of {', '.join(PROTOCOLS)}"
        )
    stage1 = {k: v for k, v in align.items() if k not in ALIGN_PROTOCOL_KEYS}
    return (
        protocol,
        _build(AlignConfig, stage1, f"{source}: align"),
        _build(GanConfig, gan, f"{source}: gan"),
        _build(AugmentConfig, augment, f"{source}: augment"),
    )


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """from_dict after checking scalar types, so `lr: abc` is an error naming the key, not a traceback."""
    data = _check_types(cls, data, where)
    try:
        return from_dict(cls, data, where)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check_types(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    out = dict(data)
    for key, value in data.items():
        hint = hints.get(key)
        if hint is float and isinstance(value, str):
            # YAML reads `1e-4` (no dot) as a string
            try:
                out[key] = float(value)
            except ValueError:
                raise ConfigError(f"{where}: {key} must be a number (got {value!r})") from None
        elif hint is float and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ConfigError(f"{where}: {key} must be a number (got {value!r})")
        elif hint is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{where}: {key} must be an integer (got {value!r})")
        elif hint is bool and not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false (got {value!r})")
        elif hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = str(value)  # `classes: 4`
        elif hint is str and not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string (got {value!r})")
        elif dataclasses.is_dataclass(hint) and isinstance(value, dict):
            out[key] = _check_types(hint, value, f"{where}.{key}")
    return out


# ---------------------------------------------------------------- fingerprints


def fingerprint(step: str, settings: Any, previous: str | None) -> str:
    """sha256 of (step, its settings, the previous step's fingerprint, misgan version): canonical JSON."""
    from misgan import __version__

    payload = {"step": step, "settings": to_dict(settings), "previous": previous, "misgan": __version__}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def step_settings(config: PipelineConfig) -> dict[str, Any]:
    """The settings each step's fingerprint covers (only what changes the step's output)."""
    c, e = config.corpus, config.extract
    seed = config.run.seed
    return {
        "corpus": {"name": c.name, "root": str(c.root), "classes": str(c.classes), "options": c.options},
        "extract": {"audio_encoder": e.audio_encoder, "text_encoder": e.text_encoder, "format": e.format},
        # run.seed unless the section sets its own (as _Steps does)
        "align": {"seed": seed, **config.align},
        "gan": {"seed": seed, **config.gan},
        "augment": {"seed": seed, **config.augment},
        "report": {},
    }
