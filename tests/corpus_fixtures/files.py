"""Audio and text writers shared by the fixture corpora (good, garbage, empty and truncated files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(range(256)) * 4


def tone(path: Path, sr: int = 16000, seconds: float = 0.3, freq: float = 220.0, seed: int = 0) -> Path:
    """A short tone plus a little noise, 16-bit PCM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    noise = np.random.default_rng(seed).normal(0, 0.01, len(t))
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), sr, subtype="PCM_16")
    return path


def garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # what an interrupted download often leaves behind: an error page saved under the audio name
    path.write_bytes(b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n" * 20)
    return path


def zero_length(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def truncated(path: Path, sr: int = 16000) -> Path:
    """A valid WAV cut in the middle of its data chunk (an interrupted copy)."""
    tone(path, sr)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


SENTENCES = [
    "Excuse me.",
    "Do you have your forms?",
    "Yeah.",
    "Let me see them.",
    "Is there a problem?",
    "Who told you to get in this line?",
    "You did.",
]
