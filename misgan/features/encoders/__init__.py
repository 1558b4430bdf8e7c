"""Pretrained encoders: the registry of named specs and `load_encoder` for every backend.

    spec = resolve_spec("egemaps")                  # registry name, local folder or HF id
    enc = load_encoder(spec, device="cpu")          # .spec (resolved revision), .dim, .encode(batch)
    X = enc.encode([wav1, wav2])                    # float32 (B, dim); == enc.forward(enc.prepare(batch))

Importing this package does not import torch or transformers.
"""

from __future__ import annotations

from misgan.errors import EncoderError
from misgan.features.encoders.base import BadInputError, Encoder
from misgan.features.encoders.leakage import LeakageWarning, check_leakage
from misgan.features.encoders.registry import (
    DEFAULT_AUDIO,
    DEFAULT_TEXT,
    OFFLINE,
    REGISTRY,
    EncoderSpec,
    list_encoders,
)
from misgan.features.encoders.resolve import resolve_spec

__all__ = [
    "DEFAULT_AUDIO",
    "DEFAULT_TEXT",
    "OFFLINE",
    "REGISTRY",
    "BadInputError",
    "Encoder",
    "EncoderError",
    "EncoderSpec",
    "LeakageWarning",
    "check_leakage",
    "list_encoders",
    "load_encoder",
    "resolve_spec",
]


def load_encoder(
    spec: EncoderSpec | str, device: str = "cpu", *, modality: str | None = None, corpus: str | None = None
) -> Encoder:
    """Load the encoder for `spec` (or a name/folder/HF id, resolved first) on "cpu" | "cuda" | "auto".

    The returned encoder's `.spec` records what was loaded: the commit hash (hub cache), a
    "sha256:" content hash (local folder) or the openSMILE version as `revision`, and the real `dim`.
    With `corpus`, a LeakageWarning is emitted when the encoder was trained on that corpus.
    """
    spec = resolve_spec(spec, modality=modality)
    check_leakage(spec, corpus)
    if spec.backend == "opensmile":
        from misgan.features.encoders.opensmile_encoder import OpenSmileEncoder

        return OpenSmileEncoder(spec)
    if spec.backend == "minilm":
        from misgan.features.encoders.minilm import load_minilm

        return load_minilm(spec, device)
    if spec.modality == "audio":
        from misgan.features.encoders.hf_audio import load_hf_audio

        return load_hf_audio(spec, device)
    from misgan.features.encoders.hf_text import load_hf_text

    return load_hf_text(spec, device)
