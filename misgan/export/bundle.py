"""`misgan export RUN -o model/`: a self-contained model bundle from a stage-3 (augment) run.

What is trained at export (the run's folds only evaluated the method; a deployed model uses every speaker):
  1. stage 1 once on ALL rows of the cache with the align run's config: the validation speakers are a
     held-out `VALID_FRACTION` of the speakers (whole speakers, GroupShuffleSplit with the align seed), used
     for early stopping / inner CV exactly as in a fold; nothing is tested (no test speakers remain);
  2. the chosen augmenter (`--method`; default: the best one that beats none significantly, else none)
     fitted on the training speakers' h, sampling `ratio` synthetic rows per real row (the run's --ratio /
     --balance);
  3. the stage-3 classifier(s) of the run's config on real ∪ synthetic rows, early-stopped on the
     validation speakers: the unimodal head (from W_y when linear), and with a multimodal run also the
     audio+text MLP on the (h, t) pairs (+ (ĥ, t_cond) when augmented).

The bundle folder: `model.json` (format, label names, encoder specs with the revisions the cache recorded,
configs, method, fingerprints, what was trained) and `weights.safetensors` (every array: the stage-1
standardisation and adapter under "stage1.", the classifiers under "clf.<name>."). Nothing is pickled.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from misgan.errors import MisganError

FORMAT = "misgan-model/1"
VALID_FRACTION = 0.1
Echo = Any


class ExportError(MisganError):
    """A run cannot be exported, or a bundle cannot be loaded/used."""


def _align_run(run: Any, override: str | Path | None) -> Any:
    """The stage-1 run the augment run used: --align-run, a sibling folder, or found by key under the runs root."""
    from misgan.run_lookup import find_run
    from misgan.runs import StageRun

    if override is not None:
        return StageRun.open(override)
    key = run.upstream.get("align", "")
    if not key:
        raise ExportError(f"{run.path}/run.json: no upstream align key; pass --align-run")
    sibling = run.path.parent / f"align-{key[:12]}"
    if (sibling / "run.json").is_file():
        return StageRun.open(sibling)
    found = find_run(run.record["cache"], "align", key, root=run.path.parent.parent)
    if found is None:
        raise ExportError(f"{run.path}: its align run {key[:12]} is not under {run.path.parent}; pass --align-run")
    return found


def choose_method(results: dict[str, Any], methods: list[str], alpha: float = 0.05) -> str:
    """The augmenter to ship: among those that beat "none" significantly on the run's paired units (Wilcoxon
    p, Holm-corrected across the augmenters, below `alpha`, and a positive mean difference), the one with the
    best mean test UAR; "none" otherwise. A higher mean alone is not evidence: on RAVDESS a 2-fold run's
    +3.1 points (p = 1) picked noise, and the bundle scored 2.3 UAR points below "none" on held-out speakers."""
    from misgan.augmentation.summary import summarise
    from misgan.stats import holm

    try:
        table = summarise(results)["methods"]
    except (KeyError, TypeError, ValueError):
        return "none"
    tested = {
        m: s for m, s in table.items() if m in methods and m not in ("none", "reference") and s.get("vs_none")
    }
    if not tested:
        return "none"
    names = sorted(tested)
    p_holm = holm([float(tested[m]["vs_none"]["wilcoxon"]["p_value"]) for m in names])
    better = [
        m for m, p in zip(names, p_holm, strict=True)
        if p < alpha and tested[m]["vs_none"]["bootstrap"]["mean_diff"] > 0
    ]  # fmt: skip
    return max(better, key=lambda m: tested[m]["uar"]["mean"]) if better else "none"


def _all_speakers_fold(spk: np.ndarray, seed: int) -> Any:
    """Every row trains; whole speakers (VALID_FRACTION, >= 1) validate; test = the validation rows (unused)."""
    from sklearn.model_selection import GroupShuffleSplit

    from misgan.data.folds import Fold

    rows = np.arange(len(spk))
    n_spk = len(set(spk.tolist()))
    if n_spk < 3:
        raise ExportError(f"export needs >= 3 speakers to hold whole speakers out for validation, got {n_spk}")
    n_val = max(1, round(VALID_FRACTION * n_spk))
    keep, held = next(GroupShuffleSplit(1, test_size=n_val, random_state=seed).split(rows, groups=spk))
    return Fold("all", np.sort(rows[keep]), np.sort(rows[held]), np.sort(rows[held]))


def export_model(
    run_dir: str | Path,
    out: str | Path,
    *,
    method: str | None = None,
    align_run: str | Path | None = None,
    echo: Echo | None = None,
) -> Path:
    """Write the bundle for augment run `run_dir` into `out` (see the module docstring); returns `out`.

    Warnings raised while training are collected into model.json's "warnings" (and echoed once each)."""
    import logging
    import warnings

    logged: list[str] = []

    class Keep(logging.Handler):  # misgan's WARNING records (a weak generator, issue 12) belong in model.json too
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(f"{record.name}: {record.getMessage()}")

    handler, logger = Keep(logging.WARNING), logging.getLogger("misgan")
    logger.addHandler(handler)  # also silences logging's last-resort stderr line: each note is echoed below
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            meta = _export(run_dir, out, method=method, align_run=align_run, echo=echo)
    finally:
        logger.removeHandler(handler)
    notes = list(dict.fromkeys([*(f"{w.category.__name__}: {w.message}" for w in caught), *logged]))
    if notes:
        from misgan.io import write_json

        for note in notes:
            (echo or (lambda line: None))(f"export: warning: {note}")
        write_json(Path(out) / "model.json", {**meta, "warnings": notes})
    return Path(out)


def _export(
    run_dir: str | Path,
    out: str | Path,
    *,
    method: str | None,
    align_run: str | Path | None,
    echo: Echo | None,
) -> dict[str, Any]:
    from misgan.alignment.adapter import train_fold
    from misgan.alignment.config import AlignConfig
    from misgan.augmentation.config import AugmentConfig
    from misgan.config import from_dict
    from misgan.features.store import open_store, require_audio
    from misgan.io import read_json, write_json
    from misgan.runs import StageRun
    from misgan.runtime import seed_everything

    say = echo or (lambda line: None)
    run = StageRun.open(run_dir)
    if run.kind != "augment":
        raise ExportError(f"{run.path}: a {run.kind} run; export takes a stage-3 (misgan augment) run")
    if not run.complete:
        raise ExportError(f"{run.path}: the run is not complete; finish `misgan augment` first")
    config = from_dict(AugmentConfig, run.config, f"{run.path}/run.json:config")
    results = read_json(run.path / "results.json") if (run.path / "results.json").is_file() else {}
    from misgan.augmentation.evaluate import methods_of

    methods = [m.removesuffix("-gated") for m in methods_of(config)]
    method = method or choose_method(results, methods_of(config))
    base = method.removesuffix("-gated")
    if base not in {*methods, "none"}:
        raise ExportError(f"--method {method!r}: the run compared {', '.join(methods)}")
    align = _align_run(run, align_run)
    align_cfg = dataclasses.replace(
        from_dict(AlignConfig, align.config, f"{align.path}/run.json"), reference=False
    )
    with open_store(run.record["cache"]) as store:
        if run.record.get("cache_fingerprint") and store.fingerprint != run.record["cache_fingerprint"]:
            raise ExportError(f"{store.path}: the cache changed since run {run.path} (fingerprint differs)")
        audio = store.read("audio")
        text = store.read("text") if "text" in store.dims else None
        y, names = store.labels, list(store.label_names)
        spk = store.meta()["speaker"].astype(str).to_numpy()
        encoders, cache_fp = store.attrs.get("encoders", {}), store.fingerprint
        # an imported cache records an "imported" audio spec that predict cannot load: refuse here, not there
        require_audio(store, "`misgan export` (a model for `misgan predict`)")
    if not encoders or not encoders.get("audio"):
        raise ExportError(f"{run.record['cache']}: the cache records no audio encoder (imported features?)")
    seed_everything(config.seed)
    fold = _all_speakers_fold(spk, align_cfg.seed)
    say(f"export: stage 1 on all {len(y)} rows ({len(set(spk.tolist()))} speakers, {len(fold.valid)} valid rows)")
    r = train_fold(audio, text, y, fold, align_cfg, len(names), groups=spk)
    from misgan.export.train import train_classifiers

    weights = {f"stage1.{k}": np.asarray(v) for k, v in r.extras.items() if k.startswith(("audio_", "adapter."))}
    clfs, n_syn = train_classifiers(r, text, y, fold, config, base, len(names), say)
    for name, arrays in clfs.items():
        weights.update({f"clf.{name}.{k}": v for k, v in arrays.items()})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    tmp = out / "weights.safetensors.tmp"
    save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(tmp))
    tmp.chmod(0o644)  # safetensors writes owner-only; a bundle is meant to be shared
    tmp.replace(out / "weights.safetensors")
    from misgan import __version__
    from misgan.io import file_sha256, to_jsonable

    meta = {
        "format": FORMAT,
        "misgan": __version__,
        "label_names": names,
        "encoders": encoders,
        "audio_dim": int(audio.shape[1]),
        "text_dim": None if text is None else int(text.shape[1]),
        "classifiers": {n: to_jsonable(c["config"]) for n, c in _configs(config, clfs).items()},
        "method": method,
        "align_config": to_jsonable(align_cfg),
        "augment_config": to_jsonable(config),
        "fingerprints": {
            "cache": cache_fp,
            "augment_run": run.key,
            "align_run": align.key,
            "weights_sha256": file_sha256(out / "weights.safetensors"),
        },
        "source": {"augment_run": str(run.path), "align_run": str(align.path), "cache": run.record["cache"]},
        "trained": {
            "rows": len(y),
            "speakers": len(set(spk.tolist())),
            "valid_rows": len(fold.valid),
            "synthetic_rows": int(n_syn),
            "what": "stage 1 and the classifier(s) re-fit on every speaker; validation speakers early-stop",
        },
    }
    write_json(out / "model.json", meta)
    say(f"export: wrote {out} (method {method}, classifiers {', '.join(clfs)})")
    return meta


def _configs(config: Any, clfs: dict[str, Any]) -> dict[str, Any]:
    from misgan.export.train import classifier_configs

    return {n: {"config": c} for n, c in classifier_configs(config).items() if n in clfs}
