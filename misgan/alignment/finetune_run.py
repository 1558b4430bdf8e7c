"""Stage 1 with encoder fine-tuning on a feature cache: every fold through `finetune.finetune_fold`,
with the audio paths found through the corpus manifest (the cache holds features, not audio). The
folds go to an align run folder like adapter mode's (`alignment.run.run_stage1`); a fold's fine-tuned
encoder, when saved, to `<run>/folds/<fold>/encoder/`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from misgan.alignment.adapter import AlignResult
from misgan.alignment.config import AlignConfig, FinetuneConfig
from misgan.alignment.finetune import ClipReader, finetune_fold, finetune_text
from misgan.alignment.run import Echo, FoldLog, open_cache, run_stage1
from misgan.data.folds import Fold
from misgan.errors import MisganError
from misgan.runs import RUNS_ROOT, RunResult, StageRun


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


def finetune(
    cache: Any,
    config: AlignConfig,
    ft: FinetuneConfig,
    run_dir: str | Path | None = None,
    *,
    manifest: str | Path | None = None,
    root: str | Path | None = None,
    progress: bool | None = None,
    echo: Echo | None = None,
    runs_root: str | Path = RUNS_ROOT,
) -> RunResult:
    """Stage 1 with the audio encoder fine-tuned per fold: an align run (mode "finetune") keyed by the
    cache and both configs, written, reused and resumed like `alignment.run.align`. `root`: the folder the
    manifest's relative audio paths start from; `runs_root`: where keyed run folders live."""
    from misgan.data.manifest import manifest_sha256, read_manifest
    from misgan.features.encoders import EncoderSpec
    from misgan.features.store import require_audio

    with open_cache(cache) as store:
        require_audio(store, "`misgan align --finetune`")  # a feature-only import has no audio (issue 14.9)
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
        y, text = store.labels, store.read("text")
        clips = ClipReader(paths, int(audio_spec.sample_rate or 16000))
        n_classes = len(store.label_names)

        def train(fold: Fold, run: StageRun) -> AlignResult:
            t_fold = text
            if ft.text_finetune != "none":
                text_spec = EncoderSpec.from_dict(encoders["text"])
                t_fold = finetune_text(texts, y, fold, text_spec, ft, n_classes)
            save_to = run.fold_dir(fold.name) / "encoder" if ft.save_encoder else None
            log = FoldLog(run, fold.name)
            args = (t_fold, y, fold, config, ft, n_classes, log, progress, save_to)
            result = finetune_fold(clips, audio_spec, *args)
            if ft.text_finetune != "none":
                result.extras["text"] = t_fold
            return result

        run_config = {"align": config, "finetune": ft}
        # one fold at a time: an encoder fine-tune uses the whole device (and its clip reader stays here)
        return run_stage1(
            store, config, run_config, train, run_dir, echo=echo, mode="finetune", runs_root=runs_root, jobs=1
        )
