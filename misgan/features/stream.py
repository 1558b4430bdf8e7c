"""The streaming loop behind `misgan.features.extract.extract`: read -> prepare -> forward -> write, overlapped.

A producer thread walks the chunks: reader processes decode and resample the clips of the next chunk
while the producer sorts the current one by length into batches and runs the encoder's `prepare`
(feature extraction, tokenisation, padding). The calling thread only runs `forward` and writes the
finished chunk, so on a GPU the model rarely waits for the CPU. At most `_QUEUE_CHUNKS` prepared
chunks wait in the queue: memory is bounded by the chunk size, never by the corpus.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from misgan.errors import MisganError

MISSING_TRANSCRIPT = "missing transcript"
_QUEUE_CHUNKS = 2  # prepared chunks that may wait for the model (bounds memory)
_DONE = object()

Reader = Callable[[str, int], np.ndarray]


class EncoderLike(Protocol):
    """What extraction needs of an encoder (misgan.features.encoders.base.Encoder, or a test double).

    `prepare(batch)` / `forward(inputs)` are optional: with them the CPU part runs in the producer thread.
    """

    spec: Any
    dim: int

    def encode(self, batch: Sequence[Any]) -> np.ndarray: ...


class StoreLike(Protocol):
    dims: dict[str, int]

    def write_rows(self, start: int, features: dict[str, np.ndarray], failures: list[str]) -> None: ...


@dataclass
class _Batch:
    rows: list[int]  # chunk positions
    items: list[Any]  # raw clips / strings (kept for the retry path)
    inputs: Any = None  # prepare(items), when the encoder splits prepare/forward


@dataclass
class _ChunkStart:
    start: int
    stop: int
    reasons: list[str]  # shared with the producer, which may still add prepare-time failures


@dataclass
class _ChunkEnd:
    start: int


def _read_one(reader: Reader, path: str, sr: int) -> np.ndarray | str:
    """The waveform, or the failure reason (a MisganError message already names the file)."""
    try:
        return np.asarray(reader(path, sr), dtype=np.float32)
    except MisganError as exc:
        return str(exc)
    except (OSError, RuntimeError, ValueError) as exc:
        return f"{path}: unreadable audio ({exc})"


def _read_many(reader: Reader, paths: list[str], sr: int) -> list[np.ndarray | str]:
    return [_read_one(reader, p, sr) for p in paths]


def _noop() -> None:
    return None


def _die_with_parent() -> None:
    """Linux: have the kernel kill this reader when the extracting process dies (even by SIGKILL).

    Forked readers inherit the parent's pipes, so they would otherwise never notice, linger, and keep
    the HDF5 file's lock that a resumed run needs.
    """
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def make_pool(workers: int, reader: Reader) -> Executor | None:
    """Reader processes where the OS can fork, else threads; None for `workers == 0` (read in the producer).

    Processes keep decoding off the GIL that the forward pass needs. They are forked, as torch's
    DataLoader workers are: spawned ones would re-run a user's script that lacks a `__main__` guard.
    Call from the main thread before other threads start; the workers never touch the model or CUDA.
    """
    if workers <= 0:
        return None
    try:
        pickle.dumps(reader)
    except (pickle.PicklingError, AttributeError, TypeError):
        can_fork = False
    else:
        can_fork = "fork" in multiprocessing.get_all_start_methods()
    if not can_fork:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="misgan-read")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context("fork"), initializer=_die_with_parent
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded, fork() may deadlock": see above
        pool.submit(_noop).result()  # start every worker now, from this thread
    return pool


def _read_ahead(
    chunks: list[tuple[int, int]], paths: np.ndarray, sr: int, reader: Reader, pool: Executor | None, workers: int
) -> Iterator[tuple[int, int, list[np.ndarray | str]]]:
    """Yield each chunk's clips while the next chunk is already being read by the pool."""

    def submit(s: int, e: int) -> list[Future] | list[np.ndarray | str]:
        if pool is None:
            return _read_many(reader, list(paths[s:e]), sr)
        # a few clips per task: fewer inter-process messages, still every worker busy
        step = max(1, -(-(e - s) // (2 * workers)))
        return [pool.submit(_read_many, reader, list(paths[i : min(i + step, e)]), sr) for i in range(s, e, step)]

    def gather(parts: list) -> list[np.ndarray | str]:
        if parts and isinstance(parts[0], Future):
            return [w for f in parts for w in f.result()]
        return parts

    pending = submit(*chunks[0]) if chunks else []
    for i, (s, e) in enumerate(chunks):
        current = pending
        if i + 1 < len(chunks):
            pending = submit(*chunks[i + 1])
        yield s, e, gather(current)


def _split(encoder: EncoderLike) -> bool:
    return callable(getattr(encoder, "prepare", None)) and callable(getattr(encoder, "forward", None))


def _plan(
    encoder: EncoderLike, items: list[Any], rows: list[int], batch_size: int, reasons: list[str]
) -> Iterator[_Batch]:
    """Length-sorted batches (longest first, so peak memory shows at once), each prepared where possible."""
    order = sorted(range(len(items)), key=lambda i: -len(items[i]))
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        batch = _Batch([rows[i] for i in idx], [items[i] for i in idx])
        if _split(encoder):
            while batch.rows:
                try:
                    batch.inputs = encoder.prepare(batch.items)
                    break
                except MisganError as exc:
                    if not _drop(encoder, exc, batch, reasons):
                        raise
        if batch.rows:
            yield batch


def _drop(encoder: EncoderLike, exc: MisganError, batch: _Batch, reasons: list[str]) -> bool:
    """Record the item an encoder rejected (BadInputError carries its batch position); False if none."""
    bad = getattr(exc, "index", None)
    if bad is None or not 0 <= bad < len(batch.rows):
        return False
    reasons[batch.rows[bad]] = f"{encoder.spec.name}: {exc}"
    del batch.rows[bad], batch.items[bad]
    batch.inputs = None
    return True


def _run(encoder: EncoderLike, batch: _Batch, reasons: list[str], out: np.ndarray) -> None:
    """Forward one batch into `out`; on a rejected item drop it and re-encode the rest."""
    while batch.rows:
        try:
            prepared = batch.inputs is not None
            feats = encoder.forward(batch.inputs) if prepared else encoder.encode(batch.items)  # type: ignore[attr-defined]
        except MisganError as exc:
            if not _drop(encoder, exc, batch, reasons):
                raise
            continue
        feats = np.asarray(feats, dtype=np.float32)
        if feats.shape != (len(batch.rows), out.shape[1]):
            want = (len(batch.rows), out.shape[1])
            raise MisganError(f"encoder {encoder.spec.name!r}: produced {feats.shape}, expected {want}")
        out[batch.rows] = feats
        return


def run_chunks(
    store: StoreLike,
    manifest: pd.DataFrame,
    chunks: list[tuple[int, int]],
    audio_enc: EncoderLike,
    text_enc: EncoderLike | None,
    *,
    batch_size: int,
    workers: int,
    reader: Reader,
    on_chunk: Callable[[int, int, list[str]], None],
) -> int:
    """Encode and write `chunks`; `on_chunk(start, stop, reasons)` runs before each write (strict, progress)."""
    if not chunks:
        return 0
    sr = int(getattr(audio_enc, "sample_rate", None) or getattr(audio_enc.spec, "sample_rate", None) or 16000)
    paths = manifest["path"].astype(str).to_numpy()
    texts = (
        manifest["text"].fillna("").astype(str).to_numpy() if "text" in manifest else np.full(len(manifest), "")
    )
    utt = manifest["utt_id"].astype(str).to_numpy()
    # batches, not chunks, are queued: the model starts as soon as the first batch is prepared
    per_chunk = -(-max(e - s for s, e in chunks) // batch_size) * (2 if text_enc is not None else 1) + 2
    q: queue.Queue = queue.Queue(maxsize=_QUEUE_CHUNKS * per_chunk)
    stop = threading.Event()

    def put(item: Any) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    pool = make_pool(workers, reader)

    def produce() -> None:
        try:
            for s, e, wavs in _read_ahead(chunks, paths, sr, reader, pool, workers):
                if stop.is_set():
                    return
                reasons = [w if isinstance(w, str) else "" for w in wavs]
                if text_enc is not None:
                    for i in range(e - s):
                        if not reasons[i] and not texts[s + i].strip():
                            reasons[i] = f"{utt[s + i]}: {MISSING_TRANSCRIPT}"
                put(_ChunkStart(s, e, reasons))
                ok = [i for i in range(e - s) if not reasons[i]]
                for batch in _plan(audio_enc, [wavs[i] for i in ok], ok, batch_size, reasons):
                    put(("audio", batch))
                if text_enc is not None:
                    ok = [i for i in range(e - s) if not reasons[i]]
                    for batch in _plan(text_enc, [str(texts[s + i]) for i in ok], ok, batch_size, reasons):
                        put(("text", batch))
                put(_ChunkEnd(s))
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    producer = threading.Thread(target=produce, name="misgan-prepare", daemon=True)
    producer.start()
    rows = 0
    encoders = {"audio": audio_enc, "text": text_enc}
    try:
        head: _ChunkStart | None = None
        feats: dict[str, np.ndarray] = {}
        while True:
            item = q.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, _ChunkStart):
                head, n = item, item.stop - item.start
                feats = {m: np.full((n, d), np.nan, dtype=np.float32) for m, d in store.dims.items()}
            elif isinstance(item, _ChunkEnd):
                assert head is not None and head.start == item.start
                on_chunk(head.start, head.stop, head.reasons)
                store.write_rows(head.start, feats, head.reasons)
                rows += head.stop - head.start
            else:
                modality, batch = item
                assert head is not None
                if not all(head.reasons[r] for r in batch.rows):  # text of rows whose audio failed: skip
                    _run(encoders[modality], batch, head.reasons, feats[modality])
    finally:
        stop.set()
        producer.join(timeout=5)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return rows
