"""`misgan run CONFIG.yaml`: corpus -> extract -> align -> gan -> augment -> report, resumable.

Every step has a fingerprint: sha256 over the step's own settings, the previous step's fingerprint
and the misgan version (style.md: the key hashes the producer and only output-affecting settings,
so `device` and `batch_size` are left out). The fingerprint is stored with the step's output, as
the last thing written:

  corpus   manifest CSV + `<manifest>.pipeline.json`
  extract  feature cache, store attribute `pipeline_fingerprint`
  align    fold groups in the cache, store attribute `pipeline_align_fingerprint`
  gan      `<run>/gan/` (generators) + `<run>/steps/gan.json`
  augment  `<run>/results.json` + `<run>/steps/augment.json`
  report   `<run>/report.md` + `<run>/steps/report.json`

A step whose output exists with the same fingerprint is skipped, so an interrupted run resumes at the
first unfinished step, and a changed setting reruns that step and every later one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from misgan.errors import ConfigError
from misgan.pipeline.config import (
    ALIGN_PROTOCOL_KEYS,
    SECTIONS,
    CorpusSection,
    ExtractSection,
    PipelineConfig,
    RunSection,
    config_from_dict,
    fingerprint,
    load_config,
    stage_configs,
    step_settings,
)

STEPS = ("corpus", "extract", "align", "gan", "augment", "report")
__all__ = [
    "ALIGN_PROTOCOL_KEYS",
    "SECTIONS",
    "STEPS",
    "CorpusSection",
    "ExtractSection",
    "Outcome",
    "PipelineConfig",
    "RunSection",
    "config_from_dict",
    "fingerprint",
    "format_table",
    "load_config",
    "run",
    "stage_configs",
    "step_settings",
]


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


Echo = Callable[[str], None]


# ---------------------------------------------------------------- the run


@dataclass
class Outcome:
    run_dir: Path
    steps: dict[str, str]  # step -> "ran" | "skipped"
    fingerprints: dict[str, str]
    results: dict[str, Any]  # results.json of the augment step


class _Steps:
    """The six steps over one config: `done(step, fp)` checks a step's output and fingerprint,
    `do_<step>` produces the output and `mark(step, fp)` records the fingerprint beside it."""

    def __init__(self, config: PipelineConfig, source: str, progress: bool | None, echo: Echo) -> None:
        self.config = config
        self.source = source
        self.progress = progress
        self.echo = echo
        self.protocol, self.align_cfg, self.gan_cfg, self.aug_cfg = stage_configs(
            config.align, config.gan, config.augment, source
        )
        self.run_dir = config.run_dir
        self.gan_dir = self.run_dir / "gan"
        self.manifest: Any = None  # read by `read_corpus` at the start of every run

    # -- where each step records its fingerprint
    def _step_file(self, step: str) -> Path:
        return self.run_dir / "steps" / f"{step}.json"

    def _store_attr(self, key: str) -> str | None:
        from misgan.errors import StoreError
        from misgan.features.store import open_store

        try:
            with open_store(self.config.cache_path) as store:
                return store.attrs.get(key)
        except StoreError:
            return None

    def _set_store_attr(self, key: str, value: str) -> None:
        from misgan.features.store import open_store

        with open_store(self.config.cache_path) as store:
            store.update_attrs({key: value})

    def extract_overwrite(self, fp: str) -> bool:
        """Whether extraction may replace what is at the cache path.

        Yes for a cache this pipeline made under another fingerprint (the config changed) and for an
        unfinished one (extract resumes it when its inputs match and discards it otherwise); no for a
        finished cache made outside the pipeline: extract reuses it when its inputs match, else refuses.
        """
        from misgan.features.store import tmp_path

        path = self.config.cache_path
        if path.exists():
            return self._store_attr("pipeline_fingerprint") not in (None, fp)
        return tmp_path(path).exists()

    def done(self, step: str, fp: str) -> bool:
        if step == "corpus":
            from misgan.data.manifest import manifest_sha256, read_manifest
            from misgan.errors import ManifestError

            path = self.config.manifest_path
            if not path.is_file() or _read_json(_sidecar(path)).get("fingerprint") != fp:
                return False
            try:  # a manifest edited by hand since is rewritten from the corpus
                return manifest_sha256(read_manifest(path)) == manifest_sha256(self.manifest)
            except ManifestError:
                return False
        if step == "extract":
            return self._store_attr("pipeline_fingerprint") == fp
        if step == "align":
            return self._store_attr("pipeline_align_fingerprint") == fp
        outputs = {
            "gan": self.gan_dir,
            "augment": self.run_dir / "results.json",
            "report": self.run_dir / "report.md",
        }
        return outputs[step].exists() and _read_json(self._step_file(step)).get("fingerprint") == fp

    def mark(self, step: str, fp: str) -> None:
        if step == "corpus":
            _write_json(_sidecar(self.config.manifest_path), {"fingerprint": fp, "source": self.source})
        elif step == "extract":
            self._set_store_attr("pipeline_fingerprint", fp)
        elif step == "align":
            self._set_store_attr("pipeline_align_fingerprint", fp)
        else:
            _write_json(self._step_file(step), {"fingerprint": fp, "source": self.source})

    # -- the steps
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

    def do_corpus(self) -> None:
        from misgan.data.manifest import write_manifest

        write_manifest(self.manifest, self.config.manifest_path)

    def do_extract(self, overwrite: bool) -> None:
        from misgan.data.manifest import read_manifest
        from misgan.features.encoders import load_encoder
        from misgan.features.extract import extract

        e = self.config.extract
        corpus = self.config.corpus.name
        manifest = read_manifest(self.config.manifest_path)
        audio = load_encoder(e.audio_encoder, e.device, modality="audio", corpus=corpus)
        text = load_encoder(e.text_encoder, e.device, modality="text", corpus=corpus) if e.text_encoder else None
        summary = extract(
            manifest,
            self.config.cache_path,
            audio_encoder=audio,
            text_encoder=text,
            corpus=corpus,
            device=e.device,
            batch_size=e.batch_size,
            overwrite=overwrite,
            progress=self.progress,
        )
        self.echo(f"  cache: {summary.n_rows} rows ({summary.n_failed} failed), {summary.status}")

    def do_align(self) -> None:
        from misgan.alignment.run import run_align
        from misgan.data.folds import make_folds
        from misgan.features.store import open_store

        p = self.protocol
        with open_store(self.config.cache_path) as store:
            run_align(
                store,
                self.align_cfg,
                p["protocol"],
                k=p["k"],
                fold_file=p["fold_file"],
                run_dir=self.run_dir / "align",
                progress=self.progress,
            )
            # folds of an earlier protocol may remain in the cache: later steps use exactly these
            names = [
                f.name
                for f in make_folds(
                    store.meta(), p["protocol"], k=p["k"], seed=self.align_cfg.seed, file=p["fold_file"]
                )
            ]
            store.update_attrs({"pipeline_folds": names})

    def do_gan(self) -> None:
        from misgan.gan.run import run_gan

        folds = self.fold_names()
        run_gan(self.config.cache_path, self.gan_cfg, self.gan_dir, folds=folds, progress=self.progress)

    def do_augment(self) -> dict[str, Any]:
        from misgan.augmentation.evaluate import run_augment
        from misgan.config import replace
        from misgan.features.store import open_store
        from misgan.runs import JsonlLog

        cfg = self.aug_cfg  # its seed and gan settings default to run.seed and the gan section (the loader)
        cfg = replace(
            cfg,
            gan_run=cfg.gan_run or str(self.gan_dir),
            folds=cfg.folds or tuple(self.fold_names()),
        )
        with open_store(self.config.cache_path) as store:
            return run_augment(
                store, cfg, self.run_dir, log=JsonlLog(self.run_dir / "log.jsonl"), progress=self.progress
            )

    def fold_names(self) -> list[str]:
        """The folds the align step wrote (not earlier protocols' leftovers, not "@noalign" variants)."""
        from misgan.augmentation.evaluate import stage1_folds
        from misgan.features.store import open_store

        with open_store(self.config.cache_path) as store:
            names = store.attrs.get("pipeline_folds")
            return list(names) if names else stage1_folds(store)

    def do_report(self) -> None:
        from misgan.report.build import build_report

        build_report(self.run_dir)


def _sidecar(manifest: Path) -> Path:
    return manifest.with_name(manifest.name + ".pipeline.json")


def run(
    config: PipelineConfig,
    *,
    source: str = "<config>",
    from_step: str | None = None,
    progress: bool | None = None,
    echo: Echo = print,
    argv: list[str] | None = None,
) -> Outcome:
    """Run every step whose output is missing or stale; see the module docstring."""
    import time

    from misgan.data.manifest import manifest_sha256
    from misgan.runs import JsonlLog, create_run_dir, seed_everything

    if from_step is not None and from_step not in STEPS:
        raise ConfigError(f"--from {from_step!r}: not a step; choose one of {', '.join(STEPS)}")
    force_from = STEPS.index(from_step) if from_step else len(STEPS)
    steps = _Steps(config, source, progress, echo)
    if config.run.threads > 0:
        import torch

        # small matrices: more threads mostly add synchronisation, and a busy machine makes it worse
        torch.set_num_threads(config.run.threads)
    steps.manifest = steps.read_corpus()  # first: a wrong corpus path fails before anything is written
    seed_everything(config.run.seed)
    create_run_dir(config.run.runs_dir, config.run.name, config, config.run.seed, argv)
    log = JsonlLog(config.run_dir / "pipeline.jsonl")
    settings = step_settings(config)
    outcome = Outcome(config.run_dir, {}, {}, {})
    # the corpus step's identity is its settings and the manifest they produce now
    previous: str | None = manifest_sha256(steps.manifest)
    for i, step in enumerate(STEPS):
        fp = fingerprint(step, settings[step], previous)
        if i < force_from and steps.done(step, fp):
            echo(f"[{step}] skip: up to date ({fp[:12]})")
            outcome.steps[step] = "skipped"
        else:
            echo(f"[{step}] run ({fp[:12]})")
            t0 = time.perf_counter()
            seed_everything(config.run.seed)
            if step == "extract":
                steps.do_extract(overwrite=steps.extract_overwrite(fp))
            else:
                result = getattr(steps, f"do_{step}")()
                if step == "augment":
                    outcome.results = result
            steps.mark(step, fp)
            outcome.steps[step] = "ran"
            log.write({"step": step, "fingerprint": fp, "seconds": round(time.perf_counter() - t0, 2)})
            echo(f"[{step}] done in {time.perf_counter() - t0:.1f} s")
        outcome.fingerprints[step] = fp
        previous = fp
    if not outcome.results:
        outcome.results = _read_json(config.run_dir / "results.json")
    return outcome


def format_table(results: dict[str, Any]) -> str:
    """Baseline against augmented, from results.json's summary: one Markdown row per method."""
    methods = (results.get("summary") or {}).get("methods") or {}
    if not methods:
        return "(no results)"
    from misgan.augmentation.evaluate import METHOD_TITLES

    lines = [
        "| method | UAR | WA | macro-F1 | ΔUAR vs none | Wilcoxon p |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in methods.items():
        if not entry:
            continue
        cells = [f"{entry[m]['mean'] * 100:.2f} ± {entry[m]['std'] * 100:.2f}" for m in ("uar", "wa", "macro_f1")]
        vs = entry.get("vs_none") or {}
        diff = f"{vs['bootstrap']['mean_diff'] * 100:+.2f}" if vs else "-"
        p = f"{vs['wilcoxon']['p_value']:.3f}" if vs else "-"
        lines.append(f"| {METHOD_TITLES.get(name, name)} | {' | '.join(cells)} | {diff} | {p} |")
    n = next(iter(methods.values())).get("n_folds", "?")
    lines.append(f"\n% over {n} speaker-independent folds (mean ± std across folds), cache {results.get('cache')}")
    return "\n".join(lines)
