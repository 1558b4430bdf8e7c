"""The `misgan run` config: one YAML file, six sections mirroring the stages (docs/config.md), each parsed
by its stage's dataclass through the one loader (misgan.config.load_config), and the per-step fingerprints
that decide what a run may skip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from misgan import config as _config
from misgan.alignment.config import AlignConfig
from misgan.augmentation.config import AugmentConfig
from misgan.config import RUN_SECTIONS, build, key_fields, run_sections
from misgan.data.config import CorpusConfig
from misgan.features.config import ExtractConfig
from misgan.gan.config import GanConfig

SECTIONS = RUN_SECTIONS
ALIGN_PROTOCOL_KEYS = ("protocol", "k", "fold_file")  # the fold protocol's settings in the align section

# the names the runner has always used for the first two sections
CorpusSection = CorpusConfig
ExtractSection = ExtractConfig


@dataclass(frozen=True)
class RunSection:
    SECTION: ClassVar[str] = "run"

    name: str = "run"  # run folder name under runs_dir; also names the default manifest and cache
    seed: int = 0  # one seed for every step: align, gan and augment take it unless their section sets `seed`
    runs_dir: str = "runs"  # folder holding run folders
    threads: int = 0  # torch CPU threads (0: torch's default), the default `threads` of align, gan, augment


@dataclass(frozen=True)
class PipelineConfig:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    gan: GanConfig = field(default_factory=GanConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    run: RunSection = field(default_factory=RunSection)

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


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> PipelineConfig:
    """Parse and validate a whole pipeline config; errors name `source` and the dotted key."""
    return build(PipelineConfig, run_sections(data, source), source)


def load_pipeline_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The whole config of `misgan run`, checked completely before anything runs; `overrides` (dotted keys,
    e.g. {"run.seed": 1}) act as if written in the file."""
    return _config.load_config(PipelineConfig, path, overrides=overrides)


load_config = load_pipeline_config  # the name the runner and `misgan run` use


def stage_configs(align: Any, gan: Any, augment: Any, source: str = "<config>") -> tuple:
    """(protocol settings, AlignConfig, GanConfig, AugmentConfig): the sections as dataclasses (dicts are
    parsed as the sections of a run config); the protocol settings also as a dict, as the runner reads them."""
    if isinstance(align, dict) or isinstance(gan, dict) or isinstance(augment, dict):
        cfg = config_from_dict({"align": align or {}, "gan": gan or {}, "augment": augment or {}}, source)
        align, gan, augment = cfg.align, cfg.gan, cfg.augment
    protocol = {k: getattr(align, k) for k in ALIGN_PROTOCOL_KEYS}
    return protocol, align, gan, augment


# ---------------------------------------------------------------- fingerprints


def fingerprint(step: str, settings: Any, previous: str | None) -> str:
    """sha256 of (step, its settings, the previous step's fingerprint, misgan version): canonical JSON."""
    from misgan import __version__
    from misgan.io import fingerprint as sha256_of

    return sha256_of({"step": step, "settings": settings, "previous": previous, "misgan": __version__})


def step_settings(config: PipelineConfig) -> dict[str, Any]:
    """The settings each step's fingerprint covers: the sections without their NOT_IN_KEY fields."""
    return {
        "corpus": key_fields(config.corpus),
        "extract": key_fields(config.extract),
        "align": key_fields(config.align),
        "gan": key_fields(config.gan),
        "augment": key_fields(config.augment),
        "report": {},
    }
