"""Hugging Face text encoders (BERT, RoBERTa, Llama, sentence-transformers models) with masked pooling.

Empty text is valid: the tokenizer's special tokens alone are encoded (BERT: [CLS] [SEP]); a
tokenizer that emits no token at all gives a zero vector. Whether a missing transcript is a failure
is the caller's decision.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from misgan.errors import EncoderError
from misgan.features.encoders.base import (
    Encoder,
    check_text_batch,
    inference,
    masked_mean,
    quiet_third_party,
    resolve_device,
    to_numpy,
)
from misgan.features.encoders.hub import Source, locate, model_type_of
from misgan.features.encoders.registry import AUDIO_TYPES, EncoderSpec

# Checkpoints stored in half precision load that way on CUDA (Llama-2-7b: 13 GB instead of 26 GB).
_HALF = ("float16", "bfloat16")


class HFTextEncoder(Encoder):
    """Tokenise with dynamic padding (to the longest text in the batch), pool over the attention mask."""

    def __init__(
        self,
        spec: EncoderSpec,
        model: Any,
        tokenizer: Any,
        device: str,
        *,
        max_length: int,
        normalize: bool = False,
    ) -> None:
        self.spec, self.model, self.tokenizer, self.device = spec, model, tokenizer, device
        self.max_length = max_length
        self.normalize = normalize  # sentence-transformers' Normalize module: unit L2 norm

    def prepare(self, batch: Sequence[Any]) -> dict[str, Any]:
        texts = check_text_batch(batch)
        return dict(
            self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        )

    def forward(self, inputs: dict[str, Any]) -> np.ndarray:
        import torch

        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        mask = inputs["attention_mask"]
        layer, pooling = self.spec.layer, self.spec.pooling
        with inference(self.device):
            out = self.model(**inputs, output_hidden_states=layer is not None)
            hidden = out.last_hidden_state if layer is None else out.hidden_states[layer]
            if pooling == "mean":
                vec = masked_mean(hidden.float(), mask)
            elif pooling == "cls":
                vec = hidden[:, 0].float()
            else:  # "pooled", checked at load
                vec = out.pooler_output.float()
            if self.normalize:
                vec = torch.nn.functional.normalize(vec, p=2, dim=1)
        return to_numpy(vec)


def _dtype_for(config: Any, device: str) -> Any:
    import torch

    # transformers >= 4.56 names it `dtype` (reading `torch_dtype` there warns)
    stored = getattr(config, "dtype", None) if hasattr(config, "dtype") else getattr(config, "torch_dtype", None)
    stored = str(stored or "").replace("torch.", "")
    if device.startswith("cuda") and stored in _HALF:
        return getattr(torch, stored)
    return torch.float32


def load_hf_text(
    spec: EncoderSpec,
    device: str,
    *,
    source: Source | None = None,
    normalize: bool = False,
    max_length: int | None = None,
) -> HFTextEncoder:
    """Load tokenizer + AutoModel for `spec` (trust_remote_code=False) and check layer/pooling against it."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    device = resolve_device(device)
    source = source or locate(spec)
    if model_type_of(source) in AUDIO_TYPES:
        raise EncoderError(f"encoder {spec.name!r}: {source.path_or_id} is an audio model, asked for as text")
    kw: dict[str, Any] = {"revision": source.revision, "trust_remote_code": False}
    quiet_third_party()
    try:
        config = AutoConfig.from_pretrained(source.path_or_id, **kw)
        tokenizer = AutoTokenizer.from_pretrained(source.path_or_id, **kw)
        model = AutoModel.from_pretrained(source.path_or_id, dtype=_dtype_for(config, device), **kw)
    except (OSError, ValueError, KeyError) as exc:
        raise EncoderError(f"encoder {spec.name!r}: cannot load {source.path_or_id}: {exc}") from exc
    if getattr(config, "is_encoder_decoder", False):
        model = model.get_encoder()
    model.to(device).eval()
    if tokenizer.pad_token is None:
        # decoder-only tokenizers (Llama) have no pad token; padded positions are masked out anyway
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if tokenizer.pad_token is None:
            raise EncoderError(
                f"encoder {spec.name!r}: tokenizer has no pad, eos or unk token to pad batches with"
            )
    tokenizer.padding_side = "right"
    limits = [
        n for n in (tokenizer.model_max_length, getattr(config, "max_position_embeddings", None), max_length) if n
    ]
    dim = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
    n_layers = int(getattr(config, "num_hidden_layers", 0))
    _check_layer(spec, n_layers, dim, has_pooler=getattr(model, "pooler", None) is not None)
    resolved = dataclasses.replace(spec, revision=source.recorded, dim=dim)
    return HFTextEncoder(resolved, model, tokenizer, device, max_length=int(min(limits)), normalize=normalize)


def _check_layer(spec: EncoderSpec, n_layers: int, dim: int, *, has_pooler: bool) -> None:
    if spec.layer is not None and not 0 <= spec.layer <= n_layers:
        raise EncoderError(
            f"encoder {spec.name!r}: layer {spec.layer} out of range; hidden_states has indices 0..{n_layers}"
        )
    if spec.pooling == "pooled" and not has_pooler:
        raise EncoderError(f"encoder {spec.name!r}: the model has no pooler; use pooling 'mean' or 'cls'")
    if spec.pooling not in ("mean", "cls", "pooled"):
        raise EncoderError(f"encoder {spec.name!r}: pooling {spec.pooling!r} not supported for a text model")
    if spec.dim is not None and spec.dim != dim:
        raise EncoderError(f"encoder {spec.name!r}: model hidden size is {dim}, spec says {spec.dim}")
