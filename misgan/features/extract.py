"""Manifest -> feature store: streamed in chunks, resumable after any kill, shardable under torchrun.

    summary = extract(manifest, "cache/ravdess.zarr", audio_encoder="egemaps", text_encoder="minilm")

The store is written one chunk of rows at a time (features, then failure reasons, then the `done`
flags), so memory stays flat and a killed run redoes at most the chunks it was writing. Within a
chunk, clips are sorted by length into batches (little padding); reader processes decode and
resample the next chunk while the model encodes this one (misgan.features.stream).

Identity. The fingerprint hashes the manifest content, the class order, the *loaded* encoders'
specs (resolved revision included) and EXTRACTION_VERSION; batch size, device and workers are left out because they
do not change the output. Same fingerprint as an existing store: nothing to do. A different one is
refused unless `overwrite`, and never mixes into an unfinished store from other inputs.

Failures. An utterance whose audio is unreadable, empty or too short, whose transcript is missing
(when a text encoder is used), or that an encoder rejects, is recorded with its reason; the run goes
on and the final store leaves it out (`store.failures`). `strict=True` raises on the first one.

Sharding. With WORLD_SIZE > 1 (torchrun), rank 0 creates the store, every rank encodes every
WORLD_SIZE-th pending chunk (Zarr chunks are separate files, so ranks never write the same file)
and rank 0 finalises after a barrier. HDF5 files cannot take concurrent writers: refused.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from misgan.data.manifest import label_names as manifest_label_names
from misgan.data.manifest import manifest_sha256
from misgan.errors import MisganError, StoreError
from misgan.features.backends import format_of, remove
from misgan.features.store import FeatureStore, open_store
from misgan.features.stream import EncoderLike, Reader, run_chunks
from misgan.features.writer import DEFAULT_CHUNK_ROWS, tmp_path
from misgan.io import fingerprint as io_fingerprint
from misgan.locks import writer_lock
from misgan.parallel import barrier, dist, init_dist

EXTRACTION_VERSION = 1
# clips shorter than this are failures: too short to carry emotion, and openSMILE returns NaN on them
MIN_DURATION = 0.1


class ExtractError(MisganError):
    """An utterance failed under --strict, or the run was set up wrongly."""


class SpecLike(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class ExtractSummary:
    path: Path
    status: str  # "extracted" | "cached" (same fingerprint: nothing done)
    fingerprint: str
    n_manifest: int  # rows asked for
    n_rows: int  # rows in the finished store
    failures: list[dict[str, str]] = field(default_factory=list)
    chunks_encoded: int = 0  # by this process
    rows_encoded: int = 0  # by this process
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        return len(self.failures)


def fingerprint(
    manifest: pd.DataFrame,
    audio_spec: SpecLike,
    text_spec: SpecLike | None,
    label_names: list[str] | None = None,
) -> str:
    """`misgan.io.fingerprint` (sha256 of canonical JSON) of the manifest's sha256, the class order, the
    encoder specs and the extraction version."""
    payload = {
        "extraction_version": EXTRACTION_VERSION,
        "manifest_sha256": manifest_sha256(manifest),
        "label_names": list(label_names or manifest_label_names(manifest)),
        "audio": audio_spec.to_dict(),
        "text": None if text_spec is None else text_spec.to_dict(),
    }
    return io_fingerprint(payload)


def _load(encoder: EncoderLike | Any, modality: str, device: str, corpus: str | None) -> EncoderLike:
    """An encoder object passes through; a name / EncoderSpec is resolved and loaded."""
    if not isinstance(encoder, (str, Path)) and hasattr(encoder, "encode"):
        return encoder
    from misgan.features.encoders import load_encoder

    return load_encoder(
        str(encoder) if isinstance(encoder, Path) else encoder, device, modality=modality, corpus=corpus
    )


def extract(
    manifest: pd.DataFrame,
    out: str | Path,
    *,
    audio_encoder: EncoderLike | Any,
    text_encoder: EncoderLike | Any | None = None,
    corpus: str | None = None,
    label_names: list[str] | None = None,
    device: str = "cpu",
    batch_size: int = 16,
    workers: int = 2,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    overwrite: bool = False,
    strict: bool = False,
    progress: bool | None = None,
    read_audio: Callable[[str, int], np.ndarray] | None = None,
) -> ExtractSummary:
    """Encode every row of `manifest` into the store at `out` (see the module docstring)."""
    t0 = time.perf_counter()
    out = Path(out)
    fmt = format_of(out)
    rank, world = dist()
    if world > 1 and fmt == "h5":
        raise StoreError(
            f"{out}: HDF5 cannot be written by several processes at once; extract to a .zarr store under "
            "torchrun, or run a single process"
        )
    if batch_size < 1 or chunk_rows < 1 or workers < 0:
        raise ExtractError("batch size and chunk rows must be >= 1, workers >= 0")
    if len(manifest) == 0:
        raise ExtractError(f"{out}: the manifest has no rows")
    manifest = manifest.reset_index(drop=True)
    if world > 1 and device.startswith("cuda") and ":" not in device:
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"
    names = list(label_names or manifest_label_names(manifest))
    if not overwrite:
        from misgan.features.uptodate import cached_without_loading

        hit = cached_without_loading(out, manifest, audio_encoder, text_encoder, names)
        if hit is not None:
            return ExtractSummary(
                out, "cached", hit[0], len(manifest), hit[1], hit[2], seconds=time.perf_counter() - t0
            )
    audio_enc = _load(audio_encoder, "audio", device, corpus)
    text_enc = None if text_encoder is None else _load(text_encoder, "text", device, corpus)
    fp = fingerprint(manifest, audio_enc.spec, None if text_enc is None else text_enc.spec, names)

    init_dist()
    cached = _check_existing(out, fp, overwrite)
    if cached is not None:
        return ExtractSummary(out, "cached", fp, len(manifest), *cached)
    with contextlib.ExitStack() as stack:
        if world == 1:  # torchrun ranks share one store by design; one job per store is the user's part
            stack.enter_context(writer_lock(out, "feature cache"))
            cached = _check_existing(out, fp, overwrite)  # another writer may have finished it meanwhile
            if cached is not None:
                return ExtractSummary(out, "cached", fp, len(manifest), *cached)
        return _extract_store(
            manifest, out, fp, names, audio_enc, text_enc, corpus, rank, world, batch_size, workers,
            chunk_rows, overwrite, strict, progress, read_audio, t0,
        )  # fmt: skip


def _extract_store(
    manifest: pd.DataFrame,
    out: Path,
    fp: str,
    names: list[str],
    audio_enc: EncoderLike,
    text_enc: EncoderLike | None,
    corpus: str | None,
    rank: int,
    world: int,
    batch_size: int,
    workers: int,
    chunk_rows: int,
    overwrite: bool,
    strict: bool,
    progress: bool | None,
    read_audio: Callable[[str, int], np.ndarray] | None,
    t0: float,
) -> ExtractSummary:
    _check_unfinished(out, fp, overwrite)
    barrier()  # every rank has looked at the old state before rank 0 changes it
    if rank == 0:
        store = FeatureStore.resume(out)
        if store is None or store.fingerprint != fp:
            if store is not None:
                store.close()
            attrs = {
                "corpus": corpus or "",
                "manifest_sha256": manifest_sha256(manifest),
                "encoders": {
                    "audio": audio_enc.spec.to_dict(),
                    "text": None if text_enc is None else text_enc.spec.to_dict(),
                },
                "fingerprint": fp,
                "extraction_version": EXTRACTION_VERSION,
            }
            dims = {"audio": audio_enc.dim, "text": None if text_enc is None else text_enc.dim}
            store = FeatureStore.create(out, manifest, names, dims, attrs, chunk_rows=chunk_rows, overwrite=True)
        store.close()
    barrier()

    store = FeatureStore.resume(out)
    if store is None:
        raise StoreError(f"{tmp_path(out)}: unfinished store vanished while extracting")
    mine = store.pending_chunks()[rank::world]
    barrier()  # every rank has read the same pending list before anyone writes
    rows_encoded = 0
    try:
        n_mine = sum(e - s for s, e in mine)
        rows_encoded = _run_chunks(
            store,
            manifest,
            mine,
            audio_enc,
            text_enc,
            batch_size,
            workers,
            strict,
            n_mine,
            progress,
            rank,
            read_audio,
        )
    finally:
        store.close()
    barrier()
    if rank == 0:
        store = FeatureStore.resume(out)
        assert store is not None
        store.finalize().close()
    barrier()
    final = open_store(out)
    try:
        return ExtractSummary(
            out,
            "extracted",
            fp,
            len(manifest),
            final.n_rows,
            final.failures,
            chunks_encoded=len(mine),
            rows_encoded=rows_encoded,
            seconds=time.perf_counter() - t0,
        )
    finally:
        final.close()


def _check_existing(out: Path, fp: str, overwrite: bool) -> tuple[int, list[dict[str, str]]] | None:
    """(rows, failures) of the finished store at `out` if it matches `fp` (a cache hit); StoreError if not."""
    if not out.exists():
        return None
    try:
        store = open_store(out)
    except StoreError:
        if overwrite:
            return None
        raise
    if store.fingerprint == fp and not overwrite:
        hit = (store.n_rows, store.failures)
        store.close()
        return hit
    store.close()
    if overwrite:
        return None
    raise StoreError(
        f"{out}: this cache was built from a different manifest or encoders (fingerprint "
        f"{str(store.fingerprint)[:12]} != {fp[:12]}); pass --overwrite to replace it, or choose another -o"
    )


def _check_unfinished(out: Path, fp: str, overwrite: bool) -> None:
    """Resume only an unfinished store of the same inputs; refuse one of other inputs unless `overwrite`."""
    tmp = tmp_path(out)
    if not tmp.exists():
        return
    try:
        store = FeatureStore.resume(out)
    except StoreError:
        # killed while the store was being created (no attributes yet), or an HDF5 file broken by a
        # kill mid-write: nothing usable in it, so start again
        store = None
    if store is not None:
        same = store.fingerprint == fp
        store.close()
        if same:
            return
        if not overwrite:
            raise StoreError(
                f"{tmp}: an unfinished extraction from different inputs is in the way; "
                "pass --overwrite to discard it (or finish it with its own command)"
            )
    if dist()[0] == 0:
        remove(tmp)


# ---- the streaming loop (misgan.features.stream) with progress and --strict --------------------------


def _default_reader() -> Reader:
    from misgan.data.audio import read_audio

    # a partial of a module-level function pickles, so reader processes can use it
    return functools.partial(read_audio, min_duration=MIN_DURATION)


def _run_chunks(
    store: FeatureStore,
    manifest: pd.DataFrame,
    chunks: list[tuple[int, int]],
    audio_enc: EncoderLike,
    text_enc: EncoderLike | None,
    batch_size: int,
    workers: int,
    strict: bool,
    total: int,
    progress: bool | None,
    rank: int,
    reader: Reader | None,
) -> int:
    from tqdm.auto import tqdm

    utt = manifest["utt_id"].astype(str).to_numpy()
    paths = manifest["path"].astype(str).to_numpy()
    bar = tqdm(
        total=total,
        unit="utt",
        desc=f"extract[{rank}]" if rank else "extract",
        # None lets tqdm decide (off when stderr is not a terminal); only rank 0 draws unless asked
        disable=(not progress) if progress is not None else (True if rank else None),
        dynamic_ncols=True,
    )

    def on_chunk(start: int, stop: int, reasons: list[str]) -> None:
        bad = [i for i, r in enumerate(reasons) if r]
        if strict and bad:
            i = bad[0]
            raise ExtractError(
                f"{utt[start + i]} ({paths[start + i]}): {reasons[i]} (--strict stops at the first)"
            )
        bar.update(stop - start)

    with bar:
        return run_chunks(
            store,
            manifest,
            chunks,
            audio_enc,
            text_enc,
            batch_size=batch_size,
            workers=workers,
            reader=reader or _default_reader(),
            on_chunk=on_chunk,
        )
