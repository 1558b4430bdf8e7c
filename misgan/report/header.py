"""report.md's header: what was run (cache, folds, settings, the cross-corpus setup), the stage-1 head's score
and what the run's time covers. The tables below it: misgan.report.markdown."""

from __future__ import annotations

from typing import Any


def header_lines(
    results: dict[str, Any], summary: dict[str, Any], gan_time: dict[str, Any] | None = None
) -> list[str]:
    """The title and the bulleted header; `gan_time` is misgan.report.build.gan_time's record."""
    from misgan.augmentation.sources import report_lines

    cfg = results.get("config", {})
    lines = [
        "# Stage 3: augmentation results",
        "",
        f"- cache: `{results.get('cache', '?')}`; classes: {', '.join(results.get('label_names', []))}",
        f"- folds: {len(results.get('folds', []))}; seeds: {results.get('seeds')}; ratio: {cfg.get('ratio')}"
        f"{'; --balance' if cfg.get('balance') else ''}",
        f"- GAN settings: {gan_settings(results)}",
        f"- classifier: {cfg.get('classifier')}",
        "- scores: mean ± std over folds (percent) of the seed-averaged per-fold score; p: two-sided Wilcoxon "
        "signed-rank over folds; Δ: mean paired difference with a 95 % bootstrap CI.",
    ]
    lines += report_lines(results)  # --source-cache / --text-source
    lines += cross_corpus_lines(results.get("cross_corpus"))
    lines += stage1_lines(results, summary)
    lines += time_lines(results, gan_time)
    return lines


def _pct(stat: dict[str, Any]) -> str:
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def gan_settings(results: dict[str, Any]) -> str:
    """The settings of the generators "ours" used: the gan run's own config and folder when results.json
    names one (the run may have been trained by `misgan gan` with other settings than augment's defaults),
    else the augment config's `gan` section (cgan and the ablation GANs are trained with it)."""
    run = results.get("gan_run")
    if run:
        how = "trained by this augment run" if run.get("trained") else "found by key"
        where = f"run {run.get('path')} ({how}, key {str(run.get('key', ''))[:12]})"
        return f"{changed_settings(run.get('config'))}, {where}"
    return changed_settings((results.get("config") or {}).get("gan"))


def changed_settings(config: dict[str, Any] | None) -> str:
    """A GanConfig as recorded (a dict): "defaults" or "defaults except k=v, ..." (run.json holds the whole)."""
    import dataclasses

    from misgan.gan.config import GanConfig

    if not isinstance(config, dict):
        return "defaults" if config is None else str(config)
    base = dataclasses.asdict(GanConfig())

    def same(a: Any, b: Any) -> bool:
        return list(a) == list(b) if isinstance(a, list | tuple) and isinstance(b, list | tuple) else a == b

    diff = [f"{k}={v}" for k, v in config.items() if k not in base or not same(v, base[k])]
    return "defaults" if not diff else "defaults except " + ", ".join(diff)


def cross_corpus_lines(cross: dict[str, Any] | None) -> list[str]:
    """--test-cache: what was trained on what and scored where, and how the reference row was fitted."""
    if not cross:
        return []
    lines = [
        f"- cross-corpus: classifiers trained on {cross['train_rows']} rows (fold {cross['train_fold']}); "
        f"scored on `{cross['path']}` ({cross['rows']} rows, {cross['speakers']} speakers = the paired units "
        "of every mean, p and CI)"
    ]
    ref = cross.get("reference")
    if ref:
        lines.append(
            f"- logistic-regression reference: fitted on all {ref['train_rows']} training-corpus rows "
            f"({ref['features']}), C = {ref['c']:g} by inner grouped CV over the training speakers; "
            "scored per test speaker"
        )
    return lines


def stage1_lines(results: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """The stage-1 head's score. Cross-corpus, stage 1 stored only its fold's in-corpus test score, which says
    nothing about the test corpus: shown is `cross_corpus.stage1_head` (unit -> metrics of the head on each
    test speaker) when the run computed it, else a line saying it was not scored."""
    from misgan.metrics import mean_std

    cross = results.get("cross_corpus")
    if not cross:
        if "stage1_baseline" not in summary:
            return []
        return [f"- stage-1 head as stored (no fine-tuning): UAR {_pct(summary['stage1_baseline']['uar'])}"]
    scored = [float(m["uar"]) for m in (cross.get("stage1_head") or {}).values() if m]
    if not scored:
        return [
            f"- stage-1 head: not scored cross-corpus (stage 1 stored only fold {cross['train_fold']}'s "
            "in-corpus test score)"
        ]
    m, s = mean_std(scored)
    return [
        f"- stage-1 head of fold {cross['train_fold']} (no fine-tuning) on `{cross['path']}`: UAR "
        f"{_pct({'mean': m, 'std': s})} over {len(scored)} test speakers"
    ]


def time_lines(results: dict[str, Any], gan_time: dict[str, Any] | None) -> list[str]:
    """What the run's time covers: stage 3's (fold, seed) jobs summed (GANs trained inside a job, cgan and
    the ablation variants, included), and separately the generators' training in their gan run."""
    timing = results.get("timing") or {}
    if not timing:
        return []
    jobs = len(results.get("folds") or []) * len(results.get("seeds") or [])
    line = f"- stage-3 time: {timing.get('total_s', 0):.0f} s ({jobs} fold × seed jobs, summed)"
    if gan_time:
        how = "trained by this augment run" if (results.get("gan_run") or {}).get("trained") else "found by key"
        where = f"gan run `{gan_time['path']}` ({how})"
        if "seconds" in gan_time:
            folds = gan_time["folds"]
            over = f"fold {folds[0]}" if len(folds) == 1 else f"summed over {len(folds)} folds"
            line += f"; the generators, not included: {where}, {gan_time['seconds']:.0f} s ({over})"
        else:
            line += f"; the generators, not included: {where}, training time unknown ({gan_time['missing']})"
    return [line]
