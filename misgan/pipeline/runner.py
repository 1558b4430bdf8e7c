"""`misgan run CONFIG.yaml`: corpus -> extract -> align -> gan -> augment -> report, resumable.

Every step has a key (misgan.pipeline.steps): the corpus and extract steps hash their settings with the
previous step's key (misgan.io.fingerprint through `fingerprint`), the training stages are keyed run folders
(`misgan.runs.run_key`: cache fingerprint, the stage's config, the upstream run's key), the report hashes
the augment key. A step whose output exists under the same key is skipped ("skip: up to date"), so an
interrupted run resumes at the first unfinished step and a changed setting reruns that step and every later
one; `--from STEP` reruns STEP and the later steps regardless.

Nothing is written into the feature cache after extraction. The pipeline's own state lives in its folder
`<run.runs_dir>/<run.name>/`: pipeline.json (per step: key, ran/skipped, output, seconds; written atomically
after every step), pipeline.jsonl (one line per step run), config.yaml, command.txt, meta.json, and the
report (report.md + PNGs, built from the augment run's results.json).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
STATE_FILE = "pipeline.json"
__all__ = [
    "ALIGN_PROTOCOL_KEYS",
    "SECTIONS",
    "STATE_FILE",
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
    "read_state",
    "run",
    "stage_configs",
    "step_settings",
]

Echo = Callable[[str], None]


@dataclass
class Outcome:
    run_dir: Path  # the pipeline's folder: pipeline.json, report.md
    steps: dict[str, str]  # step -> "ran" | "skipped"
    fingerprints: dict[str, str]  # step -> its key
    results: dict[str, Any]  # results.json of the augment run
    runs: dict[str, Path] = field(default_factory=dict)  # align / gan / augment -> the keyed run folder


def read_state(run_dir: str | Path) -> dict[str, Any]:
    """pipeline.json of a pipeline folder ({} when there is none or it cannot be read)."""
    from misgan.errors import MisganError
    from misgan.io import read_json

    path = Path(run_dir) / STATE_FILE
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except MisganError:
        return {}  # a damaged state only means that nothing is known to be done
    return data if isinstance(data, dict) else {}


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

    from misgan.io import write_json
    from misgan.pipeline.steps import Steps
    from misgan.runtime import JsonlLog, create_run_dir, seed_everything

    if from_step is not None and from_step not in STEPS:
        raise ConfigError(f"--from {from_step!r}: not a step; choose one of {', '.join(STEPS)}")
    force_from = STEPS.index(from_step) if from_step else len(STEPS)
    if config.run.threads > 0:
        import torch

        # small matrices: more threads mostly add synchronisation, and a busy machine makes it worse
        torch.set_num_threads(config.run.threads)
    state = read_state(config.run_dir)
    steps = Steps(config, state, source, progress, echo)
    steps.manifest = steps.read_corpus()  # first: a wrong corpus path fails before anything is written
    seed_everything(config.run.seed)
    create_run_dir(config.run.runs_dir, config.run.name, config, config.run.seed, argv)
    log = JsonlLog(config.run_dir / "pipeline.jsonl")
    state = {"source": source, "cache": str(config.cache_path), "steps": dict(state.get("steps") or {})}
    outcome = Outcome(config.run_dir, {}, {}, {})
    for i, step in enumerate(STEPS):
        key = steps.key(step)
        if i < force_from and steps.done(step):
            echo(f"[{step}] skip: up to date ({key[:12]})")
            outcome.steps[step] = "skipped"
            state["steps"][step] = {**state["steps"].get(step, {}), "key": key, "status": "skipped"}
        else:
            echo(f"[{step}] run ({key[:12]})")
            t0 = time.perf_counter()
            if i >= force_from:
                steps.forget(step)
            state["steps"].pop(step, None)  # not done until it is recorded again below
            write_json(config.run_dir / STATE_FILE, state)
            seed_everything(config.run.seed)
            produced = steps.do(step)
            seconds = round(time.perf_counter() - t0, 2)
            state["steps"][step] = {"key": key, "status": "ran", "seconds": seconds, **produced}
            outcome.steps[step] = "ran"
            log.write({"step": step, "key": key, "seconds": seconds})
            echo(f"[{step}] done in {seconds:.1f} s")
        write_json(config.run_dir / STATE_FILE, state)
        outcome.fingerprints[step] = key
    outcome.runs = dict(steps.folders)
    results_path = steps.folders["augment"] / "results.json"
    if results_path.is_file():
        from misgan.io import read_json

        outcome.results = read_json(results_path)
    return outcome


def format_table(results: dict[str, Any]) -> str:
    """Baseline against augmented, from results.json's summary: one Markdown row per method."""
    methods = (results.get("summary") or {}).get("methods") or {}
    if not methods:
        return "(no results)"
    from misgan.augmentation.results import method_title

    lines = [
        "| method | UAR | WA | macro-F1 | ΔUAR vs none | Wilcoxon p | ΔUAR vs reference | Wilcoxon p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in methods.items():
        if not entry:
            continue
        cells = [f"{entry[m]['mean'] * 100:.2f} ± {entry[m]['std'] * 100:.2f}" for m in ("uar", "wa", "macro_f1")]
        for against in ("vs_none", "vs_reference"):  # reference: logistic regression, same features and folds
            vs = entry.get(against) or {}
            cells.append(f"{vs['bootstrap']['mean_diff'] * 100:+.2f}" if vs else "-")
            cells.append(f"{vs['wilcoxon']['p_value']:.3f}" if vs else "-")
        lines.append(f"| {method_title(name)} | {' | '.join(cells)} |")
    n = next(iter(methods.values())).get("n_folds", "?")
    lines.append(f"\n% over {n} speaker-independent folds (mean ± std across folds), cache {results.get('cache')}")
    return "\n".join(lines)
