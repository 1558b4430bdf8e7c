"""Name resolution: a registry name, a local model folder (its `config.json` tells audio from text) or a
Hugging Face id, with `NAME:layer=N,pooling=...,revision=...` options, becomes an EncoderSpec (`resolve_spec`).

Nothing here imports torch or transformers; resolving a registry name does no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from misgan.errors import EncoderError
from misgan.features.encoders.leakage import check_leakage
from misgan.features.encoders.registry import AST_TYPES, AUDIO_TYPES, MODALITIES, REGISTRY, EncoderSpec

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


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
