"""The streaming loop of one extraction process: `misgan.features.stream.run_chunks` over this rank's
chunks, with a tqdm bar, `--strict` (stop at the first failed row) and the default audio reader.
"""

from __future__ import annotations

import functools

import pandas as pd

from misgan.errors import ExtractError
from misgan.features.store import FeatureStore
from misgan.features.stream import EncoderLike, Reader, run_chunks

# clips shorter than this are failures: too short to carry emotion, and openSMILE returns NaN on them
MIN_DURATION = 0.1


def default_reader() -> Reader:
    from misgan.data.audio import read_audio

    # a partial of a module-level function pickles, so reader processes can use it
    return functools.partial(read_audio, min_duration=MIN_DURATION)


def encode_chunks(
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
            reader=reader or default_reader(),
            on_chunk=on_chunk,
        )
