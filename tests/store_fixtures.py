"""Test helpers shared by every area: synthetic feature stores, a toy encoder, a tiny wav corpus.

Import from tests with `from store_fixtures import make_feature_store` (pytest puts tests/ on sys.path);
subprocess scripts add the tests folder to sys.path themselves.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.data.manifest import CLASSES_4, new_manifest
from misgan.features.store import FeatureStore, store_from_arrays
from misgan.runs import StageRun


def make_feature_store(
    path: str | Path,
    n_speakers: int = 6,
    per_class: int = 10,
    da: int = 32,
    dt: int = 16,
    seed: int = 0,
    separable: bool = True,
    label_names: tuple[str, ...] = CLASSES_4,
    sessions: int = 2,
    chunk_rows: int = 64,
) -> FeatureStore:
    """A complete store of Gaussian class clusters.

    Each speaker has `per_class` utterances of every class (so N = n_speakers * per_class * C); speaker
    `s` belongs to session `s % sessions + 1`, gender alternates F/M. Audio rows are class mean + speaker
    offset + noise; `separable=True` puts the class means ~5.7 noise-sd apart (a linear probe scores near
    100 % UAR), `separable=False` gives every class the same mean (chance level). Text rows are a noisy
    linear map of the class one-hot, so text is correlated with the label either way.
    """
    rng = np.random.default_rng(seed)
    c = len(label_names)
    rows, y = [], []
    for s in range(n_speakers):
        for k, lab in enumerate(label_names):
            for i in range(per_class):
                rows.append(
                    {
                        "utt_id": f"spk{s:02d}_{lab}_{i:03d}",
                        "path": f"spk{s:02d}/{lab}_{i:03d}.wav",
                        "text": f"{lab} sentence {i}",
                        "label": lab,
                        "speaker": f"spk{s:02d}",
                        "session": f"Ses{s % sessions + 1:02d}",
                        "gender": "F" if s % 2 == 0 else "M",
                        "split": "",
                        "duration": 1.0,
                    }
                )
                y.append(k)
    meta = new_manifest(rows)
    y_arr = np.asarray(y)
    n = len(meta)
    means = rng.normal(0.0, 1.0, size=(c, da))
    # norm-4 means in random (near-orthogonal) directions sit about 5.7 noise-sd apart
    means = 4.0 * means / np.linalg.norm(means, axis=1, keepdims=True) if separable else np.zeros((c, da))
    spk_offset = rng.normal(0.0, 0.3, size=(n_speakers, da))
    spk_idx = np.repeat(np.arange(n_speakers), c * per_class)
    audio = means[y_arr] + spk_offset[spk_idx] + rng.normal(0.0, 1.0, size=(n, da))
    proj = rng.normal(0.0, 1.0, size=(c, dt))
    text = proj[y_arr] + rng.normal(0.0, 0.5, size=(n, dt))
    attrs = {"corpus": "synthetic", "synthetic": {"seed": seed, "separable": separable}}
    return store_from_arrays(
        path,
        meta,
        audio.astype(np.float32),
        text.astype(np.float32) if dt else None,
        list(label_names),
        attrs,
        chunk_rows=chunk_rows,
    )


def make_align_run(
    store: FeatureStore,
    folds: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]],
    *,
    complete: bool = True,
    run_dir: str | Path | None = None,
) -> StageRun:
    """A stage-1 run of `store` holding the given fold arrays and attrs as they are (no training), in the
    default place (runs/<cache stem>/align-<key>) unless `run_dir`; finished when `complete`."""
    from misgan.runs import begin_run, run_key

    config = {"fixture": sorted(folds)}
    key = run_key("align", store.fingerprint, config)
    run = begin_run(store.path, "align", key, run_dir, cache_fingerprint=store.fingerprint, config=config)
    for name, (arrays, attrs) in folds.items():
        run.write_fold(name, arrays, attrs)
    if complete:
        run.finish({"folds": [{"fold": f} for f in folds]})
    return run


# ---- a toy encoder implementing the misgan.features.encoders protocol --------------------------------------


@dataclass(frozen=True)
class ToySpec:
    """Stands in for misgan.features.encoders.EncoderSpec: all that extraction needs is `to_dict()`."""

    name: str = "toy"
    modality: str = "audio"
    backend: str = "toy"
    model_id: str = "toy"
    revision: str = "1"
    layer: int | None = None
    pooling: str = "stats"
    sample_rate: int | None = 16000
    dim: int | None = 8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ToyEncoder:
    """Deterministic cheap features.

    Audio: per waveform [mean, std, max |x|, length/sr, 4 band energies]; text: letter statistics.
    Environment hooks for subprocess tests: MISGAN_TOY_SLEEP (seconds per encode call) and
    MISGAN_TOY_LOG (a file that gets one JSON line per encode call with the batch size).
    """

    def __init__(self, modality: str = "audio", dim: int = 8, sample_rate: int = 16000) -> None:
        self.spec = ToySpec(name=f"toy-{modality}", modality=modality, dim=dim, sample_rate=sample_rate)
        self.dim = dim
        self.sample_rate = sample_rate if modality == "audio" else None
        self.calls = 0  # encode() calls
        self.items = 0  # items encoded

    def encode(self, batch: list[Any]) -> np.ndarray:
        self.calls += 1
        self.items += len(batch)
        log = os.environ.get("MISGAN_TOY_LOG")
        if log:
            with open(log, "a") as fh:
                fh.write(json.dumps({"modality": self.spec.modality, "n": len(batch), "pid": os.getpid()}) + "\n")
        delay = float(os.environ.get("MISGAN_TOY_SLEEP", "0") or 0)
        if delay:
            time.sleep(delay)
        out = np.zeros((len(batch), self.dim), dtype=np.float32)
        for i, item in enumerate(batch):
            if self.spec.modality == "audio":
                x = np.asarray(item, dtype=np.float64)
                bands = np.array_split(np.abs(np.fft.rfft(x)) ** 2, 4)
                feats = [x.mean(), x.std(), np.abs(x).max(), len(x) / self.sample_rate]
                feats += [np.log1p(b.sum()) for b in bands]
            else:
                s = str(item)
                feats = [len(s), s.count(" "), sum(map(ord, s)) % 97, len(set(s))]
                feats += [s.lower().count(ch) for ch in "aeio"]
            out[i] = np.resize(np.asarray(feats, dtype=np.float32), self.dim)
        return out


# ---- a tiny corpus of generated wavs ---------------------------------------------------------------


def make_wav_corpus(
    root: str | Path,
    n_speakers: int = 4,
    per_class: int = 2,
    label_names: tuple[str, ...] = CLASSES_4,
    sr: int = 16000,
    seed: int = 0,
) -> pd.DataFrame:
    """Write short tone-plus-noise wavs (pitch depends on class) and return their manifest."""
    import soundfile as sf

    root = Path(root).resolve()  # absolute, as read_manifest returns them
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_speakers):
        for k, lab in enumerate(label_names):
            for i in range(per_class):
                dur = 0.5 + 0.1 * ((s + k + i) % 5)
                t = np.arange(int(dur * sr)) / sr
                x = 0.3 * np.sin(2 * np.pi * (150 + 60 * k + 10 * s) * t) + 0.02 * rng.normal(size=len(t))
                path = root / f"spk{s}" / f"{lab}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, x.astype(np.float32), sr)
                rows.append(
                    {
                        "utt_id": f"spk{s}_{lab}_{i}",
                        "path": str(path),
                        "text": f"this is a {lab} sentence number {i}",
                        "label": lab,
                        "speaker": f"spk{s}",
                        "session": f"S{s % 2}",
                        "gender": "F" if s % 2 else "M",
                        "duration": dur,
                    }
                )
    return new_manifest(rows)
