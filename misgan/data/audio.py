"""Audio in: read (soundfile), downmix to mono, resample (soxr), and validate with clear errors.

`probe` reads only the header (plus a RIFF chunk walk for WAV files, which catches truncated
downloads that libsndfile would silently read short); `read_audio` decodes. Every failure raises an
`AudioError` subclass whose message starts with the file.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from misgan.errors import MisganError


class AudioError(MisganError):
    """An audio file cannot be used; the message names the file and the reason."""


class MissingAudioError(AudioError):
    """The file does not exist."""


class UnreadableAudioError(AudioError):
    """The file is not decodable audio (garbage, unsupported format, truncated)."""


class EmptyAudioError(AudioError):
    """The file is zero bytes or holds no samples."""


class TooShortAudioError(AudioError):
    """Fewer seconds than the caller's minimum."""


class ChannelsAudioError(AudioError):
    """A channel count the caller does not accept."""


class SampleRateAudioError(AudioError):
    """A sample rate the caller does not accept."""


@dataclass(frozen=True)
class AudioInfo:
    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def probe(path: str | Path) -> AudioInfo:
    """Header facts of an audio file, without decoding it; raises an AudioError subclass."""
    path = Path(path)
    if path.is_dir():
        raise UnreadableAudioError(f"{path}: is a directory, not an audio file")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise MissingAudioError(f"{path}: audio file not found") from None
    except OSError as exc:
        raise UnreadableAudioError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if size == 0:
        raise EmptyAudioError(f"{path}: empty file (0 bytes)")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise UnreadableAudioError(f"{path}: not a readable audio file ({_reason(exc)})") from exc
    if path.suffix.lower() == ".wav":
        _check_riff(path, size)
    if info.frames <= 0:
        raise EmptyAudioError(f"{path}: no audio samples")
    return AudioInfo(
        str(path), int(info.samplerate), int(info.channels), int(info.frames), info.format, info.subtype
    )


def header_duration(path: str | Path) -> float:
    """Duration from the header in seconds, NaN when the file cannot be probed."""
    try:
        return probe(path).duration
    except AudioError:
        return math.nan


def validate(
    info: AudioInfo,
    *,
    min_duration: float = 0.0,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> AudioInfo:
    """Raise if `info` breaks a requirement: too short, wrong sample rate, wrong channel count."""
    if info.duration < min_duration:
        raise TooShortAudioError(
            f"{info.path}: {info.duration:.3f} s is shorter than the minimum {min_duration} s"
        )
    if sample_rate is not None and info.sample_rate != sample_rate:
        raise SampleRateAudioError(f"{info.path}: sample rate {info.sample_rate} Hz, expected {sample_rate} Hz")
    if channels is not None and info.channels != channels:
        raise ChannelsAudioError(f"{info.path}: {info.channels} channel(s), expected {channels}")
    return info


def read_audio(
    path: str | Path,
    sr: int | None = 16000,
    *,
    min_duration: float = 0.0,
    max_channels: int | None = None,
) -> np.ndarray:
    """Decode `path` to float32 mono at `sr` Hz (None keeps the file's rate).

    Multi-channel audio is averaged to mono; resampling uses soxr (high quality). Raises an AudioError
    subclass for a missing, unreadable, empty, too-short or non-finite file.
    """
    info = probe(path)
    if max_channels is not None and info.channels > max_channels:
        raise ChannelsAudioError(f"{path}: {info.channels} channels, at most {max_channels} accepted")
    try:
        data, file_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        raise UnreadableAudioError(f"{path}: cannot decode ({_reason(exc)})") from exc
    if data.shape[0] == 0:
        raise EmptyAudioError(f"{path}: no audio samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        raise UnreadableAudioError(f"{path}: contains NaN or infinite samples")
    if sr is not None and file_sr != sr:
        import soxr

        mono = soxr.resample(mono, file_sr, sr, quality="HQ")
    out = np.ascontiguousarray(mono, dtype=np.float32)
    rate = sr or file_sr
    if len(out) / rate < min_duration:
        raise TooShortAudioError(f"{path}: {len(out) / rate:.3f} s is shorter than the minimum {min_duration} s")
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    reason = text[-1] if text else type(exc).__name__
    # libsndfile answers "does not exist ... (possibly a pipe?)" for files it cannot identify
    if "possibly a pipe" in reason or "Format not recognised" in reason:
        return "unrecognised or corrupt format"
    return reason


def _check_riff(path: Path, size: int) -> None:
    """Walk the RIFF chunks up to `data`; raise if the file ends before the data chunk does.

    libsndfile clips a short data chunk without complaint, so a cut-off copy would otherwise pass.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return  # RF64/W64 and friends: leave them to libsndfile
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack(endian + "4sI", f.read(8))
            if chunk_id == b"data":
                # 0 and 0xFFFFFFFF are placeholders written by streaming recorders
                if chunk_size not in (0, 0xFFFFFFFF) and pos + 8 + chunk_size > size:
                    raise UnreadableAudioError(
                        f"{path}: truncated (data chunk declares {chunk_size} bytes, file holds {size - pos - 8})"
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)
        raise UnreadableAudioError(f"{path}: WAV file has no data chunk")
