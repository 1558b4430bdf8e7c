"""The six steps of `misgan run`, each through its stage's public function, each with a key and a check.

  step     key                                                       output (done when it exists)
  corpus   settings + the manifest's content                         the manifest CSV (same content)
  extract  settings + the corpus key                                 the feature cache (never modified later)
  align    run_key("align", cache fingerprint, AlignConfig)          <runs_dir>/<cache stem>/align-<key>/
  gan      run_key("gan", ..., GanConfig, {"align": align key})      <runs_dir>/<cache stem>/gan-<key>/
  augment  run_key("augment", ..., AugmentConfig, {align, gan})      <runs_dir>/<cache stem>/augment-<key>/
  report   the augment key                                           <runs_dir>/<run.name>/report.md

The stage runs are keyed folders (misgan.runs), so a changed setting can never reuse a stale result; the
pipeline's own state (keys, what ran) is runs/<run.name>/pipeline.json (misgan.pipeline.runner).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from misgan.errors import ConfigError
from misgan.pipeline.config import PipelineConfig, fingerprint, step_settings
from misgan.runs import RunError, StageRun, default_run_dir

Echo = Callable[[str], None]


class Steps:
    """`key(step)` (after the earlier steps ran or were found), `done(step)`, `do(step)`."""

    def __init__(
        self, config: PipelineConfig, state: dict[str, Any], source: str, progress: bool | None, echo: Echo
    ):
        self.config = config
        self.state = state  # pipeline.json's content: {"steps": {step: {"key", ...}}, ...}
        self.source = source
        self.progress = progress
        self.echo = echo
        self.root = Path(config.run.runs_dir)
        self.cache = config.cache_path
        self.settings = step_settings(config)
        self.manifest: Any = None  # read afresh by `read_corpus` at the start of every run
        self.keys: dict[str, str] = {}
        self.folders: dict[str, Path] = {}

    # ---------------------------------------------------------------- keys

    def _recorded(self, step: str) -> dict[str, Any]:
        return dict((self.state.get("steps") or {}).get(step) or {})

    def cache_fingerprint(self) -> str | None:
        return self._cache_facts()[0]

    def _cache_facts(self) -> tuple[str | None, bool]:
        """(the cache's fingerprint, whether it holds text features); (None, True) before extraction."""
        from misgan.errors import StoreError
        from misgan.features.store import open_store

        try:
            with open_store(self.cache) as store:
                return (store.fingerprint if store.complete else None), "text" in store.dims
        except StoreError:
            return None, True

    def _stage_configs(self) -> tuple[Any, Any]:
        """The gan and augment configs as the stages will run them (an audio-only cache switches the
        generator to G(z, c): the same switch `train_gan` and `augment` apply, so the keys agree)."""
        from misgan.config import replace

        has_text = self._cache_facts()[1]
        c = self.config
        return c.gan.for_text(has_text), replace(c.augment, gan=c.augment.gan.for_text(has_text))

    def key(self, step: str) -> str:
        from misgan.alignment.run import align_key
        from misgan.augmentation.evaluate import augment_key, needs_generators
        from misgan.data.manifest import manifest_sha256
        from misgan.gan.run import gan_key

        c = self.config
        if step == "corpus":
            key = fingerprint("corpus", self.settings["corpus"], manifest_sha256(self.manifest))
        elif step == "extract":
            key = fingerprint("extract", self.settings["extract"], self.keys["corpus"])
        elif step == "align":
            key = align_key(self.cache_fingerprint(), c.align)
        elif step == "gan":
            key = gan_key(self.cache_fingerprint(), self._stage_configs()[0], self.keys["align"])
        elif step == "augment":
            gan = self.keys["gan"] if needs_generators(c.augment) else ""
            key = augment_key(self.cache_fingerprint(), self._stage_configs()[1], self.keys["align"], gan)
        else:
            key = fingerprint("report", self.settings["report"], self.keys["augment"])
        self.keys[step] = key
        if step in ("align", "gan", "augment"):
            self.folders[step] = default_run_dir(self.cache, step, key, self.root)
        return key

    # ---------------------------------------------------------------- done?

    def done(self, step: str) -> bool:
        key = self.keys[step]
        if step == "corpus":
            from misgan.data.manifest import manifest_sha256, read_manifest
            from misgan.errors import ManifestError

            path = self.config.manifest_path
            if not path.is_file() or self._recorded("corpus").get("key") != key:
                return False
            try:  # a manifest edited by hand since is rewritten from the corpus
                return manifest_sha256(read_manifest(path)) == manifest_sha256(self.manifest)
            except ManifestError:
                return False
        if step == "extract":
            made = self._recorded("extract")
            fp = self.cache_fingerprint()
            return made.get("key") == key and fp is not None and made.get("cache_fingerprint") == fp
        if step == "report":
            return self._recorded("report").get("key") == key and (self.config.run_dir / "report.md").is_file()
        folder = self.folders[step]
        if not (folder / "run.json").is_file():
            return False
        run = StageRun.open(folder)
        return run.key == key and self._covers(step, run)

    def _covers(self, step: str, run: StageRun) -> bool:
        """The stage run holds what this config asks for: every fold (a complete run), or, when the config names
        a fold subset (`align.folds` and the like), every fold of the subset. A subset run stays open by design
        (`folds` is not in the keys), so completeness alone would refuse it for ever."""
        if run.complete:
            return True
        wanted = list(self.config.align.folds)
        if not wanted:
            return False  # every fold was asked for: only a complete run holds them
        align = StageRun.open(self.folders["align"]) if (self.folders["align"] / "run.json").is_file() else None
        if step == "gan":
            wanted = list(self.config.gan.folds) or (align.folds() if align else wanted)
        elif step == "augment":
            from misgan.augmentation.results import job_name

            folds = list(self.config.augment.folds) or (align.folds() if align else wanted)
            wanted = [job_name(f, s) for f in folds for s in self.config.augment.seed_list()]
        return all(run.has_fold(w) for w in wanted)

    def forget(self, step: str) -> None:
        """--from: the step's keyed run folder is removed so that it is really trained again."""
        folder = self.folders.get(step)
        if folder is not None and folder.is_dir():
            self.echo(f"[{step}] --from: removing {folder}")
            shutil.rmtree(folder)

    # ---------------------------------------------------------------- the steps

    def read_corpus(self) -> Any:
        """The corpus's manifest, read afresh every run: readers parse label files only (seconds), and the
        manifest's content, not just the settings, is what later steps depend on (files added, labels fixed)."""
        from misgan.data.corpora import load_corpus

        c = self.config.corpus
        if not c.root:
            raise ConfigError(f"{self.source}: corpus.root is empty; set the corpus folder")
        problems: list = []
        df = load_corpus(c.name, c.root, problems=problems, classes=str(c.classes), **c.options)
        n_err = sum(p.severity == "error" for p in problems)
        note = f" ({n_err} error(s), {len(problems) - n_err} warning(s): see `misgan doctor`)" if problems else ""
        self.echo(f"  {c.name}: {len(df)} utterances, {df['speaker'].nunique()} speakers{note}")
        return df

    def do(self, step: str) -> dict[str, Any]:
        """Run `step`; return what pipeline.json records about its output."""
        return getattr(self, f"_do_{step}")()

    def _do_corpus(self) -> dict[str, Any]:
        from misgan.data.manifest import write_manifest

        write_manifest(self.manifest, self.config.manifest_path)
        return {"path": str(self.config.manifest_path)}

    def extract_overwrite(self) -> bool:
        """Whether extraction may replace what is at the cache path: yes for a cache this pipeline made
        (recorded in pipeline.json) under another key, and for an unfinished one (extract resumes it when its
        inputs match and discards it otherwise); no for a cache made outside the pipeline: extract reuses it
        when its inputs match, else refuses."""
        from misgan.features.writer import tmp_path

        if self.cache.exists():
            fp = self.cache_fingerprint()
            return fp is None or self._recorded("extract").get("cache_fingerprint") == fp
        return tmp_path(self.cache).exists()

    def _do_extract(self) -> dict[str, Any]:
        from misgan.data.manifest import read_manifest
        from misgan.features import extract as extraction
        from misgan.features.encoders import load_encoder

        e = self.config.extract
        corpus = self.config.corpus.name
        manifest = read_manifest(self.config.manifest_path)
        audio = load_encoder(e.audio_encoder, e.device, modality="audio", corpus=corpus)
        wants_text = e.text_encoder.strip().lower() not in ("", "none")  # as `misgan extract --text-encoder none`
        text = load_encoder(e.text_encoder, e.device, modality="text", corpus=corpus) if wants_text else None
        summary = extraction.extract(
            manifest,
            self.cache,
            audio_encoder=audio,
            text_encoder=text,
            corpus=corpus,
            device=e.device,
            batch_size=e.batch_size,
            overwrite=self.extract_overwrite(),
            progress=self.progress,
        )
        self.echo(f"  cache: {summary.n_rows} rows ({summary.n_failed} failed), {summary.status}")
        return {"path": str(self.cache), "cache_fingerprint": self.cache_fingerprint()}

    def _stage_result(self, step: str, result: Any) -> dict[str, Any]:
        where = self.folders[step]
        if Path(result.run_dir).resolve() != where.resolve() or result.key != self.keys[step]:
            raise RunError(f"[{step}] wrote {result.run_dir} (key {result.key[:12]}), expected {where}")
        if not self._covers(step, StageRun.open(result.run_dir)):
            raise RunError(f"[{step}] {result.run_dir}: the run is not complete")
        return {"path": str(result.run_dir), "reused": result.reused}

    def _do_align(self) -> dict[str, Any]:
        from misgan.alignment import run as stage1

        result = stage1.align(self.cache, self.config.align, self.folders["align"], progress=self.progress)
        return self._stage_result("align", result)

    def _do_gan(self) -> dict[str, Any]:
        from misgan.gan import run as stage2

        result = stage2.train_gan(
            self.cache,
            self.config.gan,
            self.folders["gan"],
            align_run=self.folders["align"],
            progress=self.progress,
        )
        return self._stage_result("gan", result)

    def _do_augment(self) -> dict[str, Any]:
        from misgan.augmentation import evaluate as stage3

        result = stage3.augment(
            self.cache,
            self.config.augment,
            self.folders["augment"],
            align_run=self.folders["align"],
            gan_run=self.folders["gan"],
            progress=self.progress,
            echo=self.echo,
            runs_root=self.root,
        )
        return self._stage_result("augment", result)

    def _do_report(self) -> dict[str, Any]:
        from misgan.report import build

        path = build.build_report(self.folders["augment"], self.config.run_dir)
        return {"path": str(path)}
