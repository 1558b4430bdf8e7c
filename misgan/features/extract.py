"""Manifest -> feature store: streamed in chunks, resumable after any kill, shardable under torchrun.

    summary = extract(manifest, "cache/ravdess.zarr", audio_encoder="egemaps", text_encoder="minilm")

The store is written one chunk of rows at a time (features, then failure reasons, then the `done`
flags), so memory stays flat and a killed run redoes at most the chunks it was writing. Within a
chunk, clips are sorted by length into batches (little padding); reader processes decode and
resample the next chunk while the model encodes this one (misgan.features.stream).

Identity (misgan.features.identity). The fingerprint hashes the manifest content, the class order, the
*loaded* encoders' specs and EXTRACTION_VERSION; the same fingerprint as an existing store: nothing to do.

Failures. An utterance whose audio is unreadable, empty or too short, whose transcript is missing
(when a text encoder is used), or that an encoder rejects, is recorded with its reason; the run goes
on and the final store leaves it out (`store.failures`). `strict=True` raises on the first one.

Sharding. With WORLD_SIZE > 1 (torchrun), rank 0 creates the store, every rank encodes every
WORLD_SIZE-th pending chunk (Zarr chunks are separate files, so ranks never write the same file)
and rank 0 finalises after a barrier. HDF5 files cannot take concurrent writers: refused.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.data.manifest import label_names as manifest_label_names
from misgan.data.manifest import manifest_sha256
from misgan.errors import ExtractError, StoreError
from misgan.features.backends import format_of
from misgan.features.encode_loop import encode_chunks
from misgan.features.identity import EXTRACTION_VERSION, check_existing, check_unfinished, fingerprint
from misgan.features.store import FeatureStore, open_store
from misgan.features.stream import EncoderLike
from misgan.features.writer import DEFAULT_CHUNK_ROWS, tmp_path
from misgan.locks import writer_lock
from misgan.parallel import barrier, dist, init_dist


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
    cached = check_existing(out, fp, overwrite)
    if cached is not None:
        return ExtractSummary(out, "cached", fp, len(manifest), *cached)
    with contextlib.ExitStack() as stack:
        if world == 1:  # torchrun ranks share one store by design; one job per store is the user's part
            stack.enter_context(writer_lock(out, "feature cache"))
            cached = check_existing(out, fp, overwrite)  # another writer may have finished it meanwhile
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
    check_unfinished(out, fp, overwrite)
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
        rows_encoded = encode_chunks(
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
