"""`misgan doctor`: check a corpus before anything is trained on it.

Layout, label and transcript lines are checked by the corpus reader (it records every malformed
line as a `Problem` instead of stopping); this module adds one check per referenced audio file:
exists, non-empty, decodable to the end, finite, sample rate, channels and duration. Errors are
defects that would corrupt training; warnings are tolerated (resampled, downmixed, silent...).
"""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from misgan.data.audio import AudioError, AudioInfo, probe
from misgan.data.corpora import read_corpus
from misgan.data.corpora.common import HasProblems, Problem
from misgan.data.manifest import Manifest, label_names

__all__ = ["DoctorReport", "Problem", "check_audio_file", "run_doctor"]

MIN_DURATION = 0.1  # seconds; shorter clips are flagged (encoders need a few frames)


@dataclass
class AudioCheck:
    path: str
    info: AudioInfo | None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class DoctorReport(HasProblems):
    corpus: str
    root: str
    manifest: Manifest
    problems: list[Problem]
    sample_rates: Counter
    channels: Counter
    durations: np.ndarray  # seconds, one per readable file
    audio_checked: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary_lines(self) -> list[str]:
        df = self.manifest
        lines = [f"corpus {self.corpus} at {self.root}"]
        lines.append(f"utterances: {len(df)}  speakers: {df['speaker'].nunique() if len(df) else 0}")
        if len(df):
            counts = df["label"].value_counts().reindex(label_names(df))
            lines.append("classes: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        lines.append(f"audio files checked: {self.audio_checked} in {self.seconds:.1f} s")
        if len(self.durations):
            d = self.durations
            lines.append(
                f"duration: total {d.sum() / 60:.1f} min, min {d.min():.2f} s, "
                f"median {np.median(d):.2f} s, max {d.max():.2f} s"
            )
        if self.sample_rates:
            lines.append(
                "sample rates: " + ", ".join(f"{k} Hz x{v}" for k, v in sorted(self.sample_rates.items()))
            )
        if self.channels:
            lines.append("channels: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.channels.items())))
        lines.append(f"problems: {len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        return lines


def check_audio_file(path: str, *, decode: bool = True, min_duration: float = MIN_DURATION) -> AudioCheck:
    """Probe (and by default fully decode) one file; every defect becomes a Problem naming it."""
    try:
        info = probe(path)
    except AudioError as exc:
        return AudioCheck(path, None, [Problem(path, None, "error", _strip_path(str(exc), path))])
    check = AudioCheck(path, info)
    if decode:
        try:
            data, _ = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, OSError) as exc:
            check.problems.append(Problem(path, None, "error", f"cannot decode ({exc})"))
            return check
        if data.shape[0] < info.frames:
            check.problems.append(
                Problem(
                    path, None, "error", f"decoded {data.shape[0]} of the {info.frames} frames the header declares"
                )
            )
        if not np.isfinite(data).all():
            check.problems.append(Problem(path, None, "error", "contains NaN or infinite samples"))
        elif data.size and not np.abs(data).max() > 0:
            check.problems.append(Problem(path, None, "warning", "silent (every sample is zero)"))
    if info.duration < min_duration:
        check.problems.append(
            Problem(path, None, "warning", f"very short ({info.duration:.3f} s < {min_duration} s)")
        )
    if info.channels > 1:
        check.problems.append(
            Problem(path, None, "warning", f"{info.channels} channels (downmixed to mono on read)")
        )
    return check


def run_doctor(
    corpus: str,
    root: str | Path,
    *,
    decode: bool = True,
    workers: int = 4,
    min_duration: float = MIN_DURATION,
    progress: bool = False,
    **options: Any,
) -> DoctorReport:
    """Read corpus `corpus` at `root` (reader options such as `classes` pass through) and check it all."""
    start = time.perf_counter()
    result = read_corpus(corpus, root, **options)
    df = result.manifest
    problems = list(result.problems)
    paths = df["path"].tolist()
    checks: list[AudioCheck] = []
    if paths:
        from tqdm import tqdm

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            jobs = pool.map(lambda p: check_audio_file(p, decode=decode, min_duration=min_duration), paths)
            checks = list(tqdm(jobs, total=len(paths), disable=not progress, desc="audio", unit="file"))
    infos = [c.info for c in checks if c.info is not None]
    rates = Counter(i.sample_rate for i in infos)
    if len(rates) > 1:
        common = rates.most_common(1)[0][0]
        for i in infos:
            if i.sample_rate != common:
                problems.append(
                    Problem(i.path, None, "warning", f"sample rate {i.sample_rate} Hz (most files: {common} Hz)")
                )
    for c in checks:
        problems.extend(c.problems)
    if len(df):
        df = df.copy()
        df["duration"] = [c.info.duration if c.info else float("nan") for c in checks]
    return DoctorReport(
        corpus=corpus,
        root=str(root),
        manifest=df,
        problems=problems,
        sample_rates=rates,
        channels=Counter(i.channels for i in infos),
        durations=np.array([i.duration for i in infos], dtype=float),
        audio_checked=len(checks),
        seconds=time.perf_counter() - start,
    )


def _strip_path(message: str, path: str) -> str:
    # AudioError messages start with the path; the Problem already carries it
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message
