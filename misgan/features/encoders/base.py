"""The encoder interface shared by every backend, plus small helpers (devices, input checks, hashing).

An encoder's work is split in two so a benchmark can time the bare model apart from input
preparation: `prepare(batch)` (validation, feature extraction / tokenisation, padding) and
`forward(inputs)` (the batched model call + pooling). `encode(batch) == forward(prepare(batch))`.
"""

from __future__ import annotations

import contextlib
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from misgan.errors import EncoderError
from misgan.features.encoders.registry import EncoderSpec


class BadInputError(EncoderError):
    """One item of a batch cannot be encoded; `index` says which, so a caller can drop it and retry the rest."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(f"batch item {index}: {message}")
        self.index = index


class Encoder(ABC):
    """A loaded encoder. `spec` is the resolved spec (revision = what was actually loaded)."""

    spec: EncoderSpec
    device: str = "cpu"

    @property
    def dim(self) -> int:
        assert self.spec.dim is not None  # every loader fills it in
        return self.spec.dim

    @property
    def modality(self) -> str:
        return self.spec.modality

    @property
    def sample_rate(self) -> int | None:
        return self.spec.sample_rate

    @abstractmethod
    def prepare(self, batch: Sequence[Any]) -> Any:
        """Validate a batch and turn it into model inputs (CPU work, not timed as the forward)."""

    @abstractmethod
    def forward(self, inputs: Any) -> np.ndarray:
        """Run the model on prepared inputs; float32 array (B, dim)."""

    def encode(self, batch: Sequence[Any]) -> np.ndarray:
        """Encode a list of waveforms (audio) or strings (text) into float32 (B, dim)."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self.forward(self.prepare(batch))
        if out.shape != (len(batch), self.dim):
            raise EncoderError(
                f"encoder {self.spec.name!r}: produced {out.shape}, expected ({len(batch)}, {self.dim})"
            )
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, dim={self.spec.dim}, device={self.device!r})"


def check_audio_batch(batch: Sequence[Any]) -> list[np.ndarray]:
    """Each item must be a non-empty, finite, 1-D waveform; returns float32 contiguous copies."""
    if isinstance(batch, np.ndarray) and batch.ndim == 1:
        raise EncoderError("audio batch: got one 1-D array; pass a list of waveforms")
    out = []
    for i, wav in enumerate(batch):
        arr = np.asarray(wav, dtype=np.float32)
        if arr.ndim != 1:
            raise BadInputError(i, f"expected a mono 1-D waveform, got shape {arr.shape}")
        if arr.size == 0:
            raise BadInputError(i, "empty waveform (0 samples)")
        if not np.isfinite(arr).all():
            raise BadInputError(i, "waveform contains NaN or inf")
        out.append(np.ascontiguousarray(arr))
    return out


def check_text_batch(batch: Sequence[Any]) -> list[str]:
    """Each item must be a str ("" is allowed and encodes to a valid vector)."""
    if isinstance(batch, str):
        raise EncoderError("text batch: got one string; pass a list of strings")
    for i, text in enumerate(batch):
        if not isinstance(text, str):
            raise BadInputError(i, f"expected str, got {type(text).__name__}")
    return list(batch)


def quiet_third_party(tty: bool | None = None) -> None:
    """Off a TTY (`tty` None: look at stderr), silence transformers' and the hub's progress bars and info logs.

    Their "Loading weights 0/103 ... 103/103" bars write carriage returns into log files; misgan prints its
    own one line per unit of work instead. Errors still surface (set_verbosity_error).
    """
    import sys

    if tty is None:
        tty = bool(getattr(sys.stderr, "isatty", lambda: False)())
    if tty:
        return
    import huggingface_hub.utils as hub_utils
    from transformers.utils import logging as tf_logging

    tf_logging.disable_progress_bar()
    tf_logging.set_verbosity_error()
    hub_utils.disable_progress_bars()


def resolve_device(device: str) -> str:
    """ "cpu" | "cuda" | "cuda:N" | "auto" -> a torch device string (EncoderError when CUDA is absent)."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise EncoderError(f"device {device!r} asked for, but torch sees no CUDA device (use 'cpu' or 'auto')")
        return device
    raise EncoderError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")


@contextlib.contextmanager
def inference(device: str) -> Iterator[None]:
    """No-grad inference; on CUDA under autocast (bf16 where supported, else fp16).

    On CUDA the cuDNN attention backend is left out: it builds a plan for every new sequence
    length, which made batches of varied clip lengths about 5x slower on an H100 than flash /
    memory-efficient attention (measured with wav2vec2-large; see docs/encoders.md).
    """
    import torch

    with torch.inference_mode():
        if device.startswith("cuda"):
            from torch.nn.attention import SDPBackend, sdpa_kernel

            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
            with torch.autocast("cuda", dtype=dtype), sdpa_kernel(backends):
                yield
        else:
            yield


def masked_mean(hidden: Any, mask: Any) -> Any:
    """Mean over time of (B, T, D) `hidden` counting only positions where (B, T) `mask` is 1.

    Rows with an all-zero mask give a zero vector rather than NaN.
    """
    m = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def to_numpy(x: Any) -> np.ndarray:
    return x.detach().float().cpu().numpy().astype(np.float32, copy=False)


def folder_hash(folder: Path) -> str:
    """ "sha256:<hex>" over every file's relative path and content (stable across machines)."""
    digest = hashlib.sha256()
    # hidden entries (.git, .cache, .gitattributes) are bookkeeping, not model content
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()
