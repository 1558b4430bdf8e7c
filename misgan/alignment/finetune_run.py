"""Stage 1 with encoder fine-tuning on a feature cache: every fold through `finetune.finetune_fold`,
with the audio paths found through the corpus manifest (the cache holds features, not audio)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from misgan.alignment.config import AlignConfig, FinetuneConfig
from misgan.alignment.finetune import ClipReader, finetune_fold, finetune_text
from misgan.errors import MisganError


def audio_paths(store: Any, manifest: str | Path | None, root: str | Path | None) -> tuple[list[str], list[str]]:
    """Audio path and transcript of every store row, matched by utt_id in `manifest`.

    Relative manifest paths start from `root` when given, else from the manifest's folder."""
    import pandas as pd

    from misgan.data.manifest import read_manifest

    manifest = manifest or store.attrs.get("manifest_path")
    if not manifest:
        raise MisganError(f"{store.path}: the cache records no audio paths; pass --manifest (and --root)")
    df = read_manifest(manifest)
    if root is not None:
        raw = pd.read_csv(manifest, dtype=str, keep_default_na=False)["path"]
        df["path"] = [p if Path(p).is_absolute() else str(Path(root) / p) for p in raw]
    by_id = dict(zip(df["utt_id"].astype(str), range(len(df)), strict=True))
    utts = store.meta()["utt_id"].astype(str).tolist()
    missing = [u for u in utts if u not in by_id]
    if missing:
        raise MisganError(f"{manifest}: {len(missing)} utterance(s) of the cache are not in it, e.g. {missing[0]}")
    rows = [by_id[u] for u in utts]
    paths = df["path"].astype(str).to_numpy()[rows].tolist()
    absent = [p for p in paths if not Path(p).is_file()]
    if absent:
        raise MisganError(f"{manifest}: {len(absent)} audio file(s) not found, e.g. {absent[0]} (check --root)")
    return paths, df["text"].fillna("").astype(str).to_numpy()[rows].tolist()


def run_finetune(
    store: Any,
    config: AlignConfig,
    ft: FinetuneConfig,
    protocol: str = "loso-speaker",
    *,
    manifest: str | Path | None = None,
    root: str | Path | None = None,
    fold_file: str | Path | None = None,
    k: int = 5,
    only: list[str] | None = None,
    run_dir: str | Path | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Fine-tune per fold of `protocol` and write `folds/<fold>/` like `align.run_align` (mode "finetune")."""
    from misgan.alignment.run import _write_json, summarise, write_result
    from misgan.data.folds import make_folds, select_folds
    from misgan.data.manifest import manifest_sha256, read_manifest
    from misgan.features.encoders import EncoderSpec
    from misgan.runs import JsonlLog

    encoders = store.attrs.get("encoders") or {}
    if not encoders.get("audio"):
        raise MisganError(f"{store.path}: the cache records no audio encoder spec; fine-tuning needs one")
    audio_spec = EncoderSpec.from_dict(encoders["audio"])
    if audio_spec.backend != "hf":
        raise MisganError(
            f"{store.path}: audio encoder {audio_spec.name!r} ({audio_spec.backend}) cannot be fine-tuned; "
            "fine-tuning needs a Hugging Face model (AST, wav2vec2 family): use adapter mode"
        )
    paths, texts = audio_paths(store, manifest, root)
    if manifest is not None and store.attrs.get("manifest_sha256") not in (
        None,
        manifest_sha256(read_manifest(manifest)),
    ):
        import warnings

        warnings.warn(
            f"{manifest}: not the manifest this cache was built from (rows matched by utt_id)", stacklevel=2
        )
    meta, y = store.meta(), store.labels
    text = store.read("text")
    folds = select_folds(make_folds(meta, protocol, k=k, seed=config.seed, file=fold_file), only, f"{store.path}")
    clips = ClipReader(paths, int(audio_spec.sample_rate or 16000))
    log = JsonlLog(Path(run_dir) / "log.jsonl") if run_dir is not None else None
    spk = meta["speaker"].astype(str).to_numpy()
    n_classes = len(store.label_names)
    per_fold = []
    for fold in folds:
        t_fold = text
        if ft.text_finetune != "none":
            text_spec = EncoderSpec.from_dict(encoders["text"])
            t_fold = finetune_text(texts, y, fold, text_spec, ft, n_classes)
        save_to = Path(run_dir) / "encoders" / fold.name if (run_dir is not None and ft.save_encoder) else None
        result = finetune_fold(clips, audio_spec, t_fold, y, fold, config, ft, n_classes, log, progress, save_to)
        if ft.text_finetune != "none":
            result.extras["text"] = t_fold
        write_result(store, fold, result, {"align": config, "finetune": ft}, spk, protocol, mode="finetune")
        scores = {k: float(result.baseline[k]) for k in ("uar", "wa", "macro_f1")}
        per_fold.append({"fold": fold.name, **scores, **result.retrieval, "best_epoch": result.best_epoch})
    summary = summarise(per_fold)
    summary.update(protocol=protocol, cache=str(store.path), mode="finetune")
    if run_dir is not None:
        _write_json(Path(run_dir) / "summary.json", summary)
    return summary
