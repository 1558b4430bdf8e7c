"""Hugging Face audio encoders: AST, the wav2vec2 family (wav2vec2, WavLM, HuBERT, ...) and Whisper's encoder.

The architecture is read from config.json; the feature extractor comes from the model folder or,
when it has none, is built from the config. Padded frames never enter mean pooling:
- AST pads every clip to the same fixed spectrogram length, so batching cannot change a vector.
- wav2vec2 models with layer-norm feature encoders get an attention mask and a frame mask.
- Models whose conv feature encoder starts with GroupNorm (wav2vec2-base, HuBERT-base, WavLM-base)
  normalise over the whole padded length, so zero padding would change every vector; their first
  norm is swapped for a MaskedGroupNorm that takes statistics over each clip's own frames (an
  unknown layout falls back to one forward per distinct clip length, unpadded).
- Whisper pads to 30 s; only encoder frames covering real audio are averaged (clips over 30 s are
  truncated to their first 30 s by the feature extractor).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch  # this module is imported only when an HF audio encoder is loaded

from misgan.errors import EncoderError
from misgan.features.encoders.base import (
    Encoder,
    check_audio_batch,
    inference,
    masked_mean,
    quiet_third_party,
    resolve_device,
    to_numpy,
)
from misgan.features.encoders.hub import Source, locate, model_type_of
from misgan.features.encoders.registry import AST_TYPES, WAV2VEC2_TYPES, WHISPER_TYPES, EncoderSpec

# wav2vec2's first conv layer needs 400 samples (25 ms at 16 kHz); shorter clips are zero-padded to it.
_MIN_SAMPLES = 400
_CUDA_PAD_STEP = 8000


class HFAudioEncoder(Encoder):
    """Shared loading state; subclasses define prepare/forward for their architecture."""

    def __init__(self, spec: EncoderSpec, model: Any, feature_extractor: Any, device: str) -> None:
        self.spec, self.model, self.fe, self.device = spec, model, feature_extractor, device

    def _features(self, wavs: list[np.ndarray], **kw: Any) -> dict[str, Any]:
        return dict(self.fe(wavs, sampling_rate=self.spec.sample_rate, return_tensors="pt", **kw))

    def _hidden(self, out: Any) -> Any:
        return (out.last_hidden_state if self.spec.layer is None else out.hidden_states[self.spec.layer]).float()


class ASTEncoder(HFAudioEncoder):
    """Audio Spectrogram Transformer; "pooled" = mean of CLS and distillation tokens (ASTModel.pooler_output)."""

    def prepare(self, batch: Sequence[Any]) -> dict[str, Any]:
        return self._features(check_audio_batch(batch))

    def forward(self, inputs: dict[str, Any]) -> np.ndarray:
        x = inputs["input_values"].to(self.device)
        with inference(self.device):
            out = self.model(input_values=x, output_hidden_states=self.spec.layer is not None)
            if self.spec.pooling == "pooled":
                vec = out.pooler_output.float()
            elif self.spec.pooling == "cls":
                vec = self._hidden(out)[:, 0]
            else:  # mean over all tokens: every clip has the same fixed number of patches
                vec = self._hidden(out).mean(1)
        return to_numpy(vec)


class MaskedGroupNorm(torch.nn.GroupNorm):
    """Per-channel GroupNorm over the valid frames only, for the first conv layer of the feature encoder.

    Models whose conv feature encoder starts with GroupNorm(C, C) (wav2vec2-base, HuBERT-base,
    WavLM-base) normalise each channel over the whole input, so zero padding would change every
    vector. With the statistics taken over each clip's own frames, the conv outputs of valid frames
    equal those of the clip alone, and the transformer (given the attention mask) is exact too.
    The existing GroupNorm is re-classed in place, so parameter names and state_dict keys stay as
    they were (fine-tuning and saving the model are unaffected); with `lengths` None it is plain GroupNorm.
    """

    kernel: int
    stride: int
    lengths: torch.Tensor | None  # samples per clip during a masked forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lengths is None:
            return super().forward(x)
        frames = torch.div(self.lengths - self.kernel, self.stride, rounding_mode="floor") + 1
        x = x.float()  # statistics in fp32, as autocast does for group_norm
        mask = (torch.arange(x.shape[-1], device=x.device)[None, :] < frames[:, None]).float()[:, None, :]
        n = mask.sum(-1, keepdim=True).clamp(min=1.0)
        mean = (x * mask).sum(-1, keepdim=True) / n
        var = ((x - mean) ** 2 * mask).sum(-1, keepdim=True) / n
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight.float()[None, :, None] + self.bias.float()[None, :, None]


def install_masked_group_norm(model: Any) -> MaskedGroupNorm | None:
    """Turn a group-norm feature encoder's first norm into a MaskedGroupNorm; None for an unknown layout."""
    if getattr(model.config, "feat_extract_norm", "layer") != "group":
        return None
    try:
        layer = model.feature_extractor.conv_layers[0]
        norm, conv = layer.layer_norm, layer.conv
    except (AttributeError, IndexError, TypeError):
        return None
    if type(norm) is not torch.nn.GroupNorm or norm.num_groups != norm.num_channels or not norm.affine:
        return None
    norm.__class__ = MaskedGroupNorm
    norm.kernel, norm.stride, norm.lengths = int(conv.kernel_size[0]), int(conv.stride[0]), None
    return norm


class Wav2Vec2Encoder(HFAudioEncoder):
    """wav2vec2-family models, mean-pooled over the frames of real audio."""

    def __init__(self, spec: EncoderSpec, model: Any, feature_extractor: Any, device: str) -> None:
        super().__init__(spec, model, feature_extractor, device)
        self.group_norm = getattr(model.config, "feat_extract_norm", "layer") == "group"
        self._masked = install_masked_group_norm(model)

    def prepare(self, batch: Sequence[Any]) -> dict[str, Any]:
        wavs = [
            w if len(w) >= _MIN_SAMPLES else np.pad(w, (0, _MIN_SAMPLES - len(w)))
            for w in check_audio_batch(batch)
        ]
        # on CUDA, padding to 0.5 s steps lets batches share shapes (kernel plans are cached per shape);
        # padded frames are masked either way
        step = _CUDA_PAD_STEP if self.device.startswith("cuda") else None
        inputs = self._features(wavs, padding=True, return_attention_mask=True, pad_to_multiple_of=step)
        inputs["attention_mask"] = inputs["attention_mask"].long()
        return inputs

    def forward(self, inputs: dict[str, Any]) -> np.ndarray:
        values, mask = inputs["input_values"], inputs["attention_mask"]
        if not self.group_norm or self._masked is not None:
            return to_numpy(self._pool(values.to(self.device), mask.to(self.device)))
        # unknown group-norm layout: run clips of equal length together, unpadded, as in training
        lengths = mask.sum(1)
        out = torch.empty(len(values), self.dim)
        for length in torch.unique(lengths).tolist():
            idx = (lengths == length).nonzero().flatten()
            out[idx] = self._pool(values[idx, :length].to(self.device), None).cpu()
        return to_numpy(out)

    def _pool(self, values: Any, mask: Any) -> Any:
        if self._masked is not None:
            self._masked.lengths = mask.sum(1)
        try:
            with inference(self.device):
                out = self.model(values, attention_mask=mask, output_hidden_states=self.spec.layer is not None)
                hidden = self._hidden(out)
                if mask is None:
                    return hidden.mean(1)
                frames = self.model._get_feat_extract_output_lengths(mask.sum(1))
                frame_mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
                return masked_mean(hidden, frame_mask)
        finally:
            if self._masked is not None:
                self._masked.lengths = None


class WhisperEncoder(HFAudioEncoder):
    """Whisper's encoder only, mean-pooled over the frames that cover real audio (not the 30 s padding)."""

    def prepare(self, batch: Sequence[Any]) -> dict[str, Any]:
        # the log-mel of the 30 s padded window is the costly part; on CUDA it is computed there
        return self._features(check_audio_batch(batch), return_attention_mask=True, device=self.device)

    def forward(self, inputs: dict[str, Any]) -> np.ndarray:
        feats = inputs["input_features"].to(self.device)
        n_mel = inputs["attention_mask"].sum(1).to(self.device)
        with inference(self.device):
            out = self.model(feats, output_hidden_states=self.spec.layer is not None)
            hidden = self._hidden(out)
            # the second conv has stride 2: encoder frame i covers mel frames 2i and 2i+1
            frames = (n_mel + 1) // 2
            frame_mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
            vec = masked_mean(hidden, frame_mask)
        return to_numpy(vec)


def _feature_extractor(source: Source, model_type: str, config: Any) -> Any:
    """The folder's preprocessor config when present, else one built from the model config."""
    import transformers as tf

    if (source.folder / "preprocessor_config.json").is_file() or source.revision is not None:
        try:
            return tf.AutoFeatureExtractor.from_pretrained(
                source.path_or_id, revision=source.revision, trust_remote_code=False
            )
        except (OSError, ValueError) as exc:
            if source.revision is None:  # local folder with a broken preprocessor_config.json
                raise EncoderError(f"{source.folder / 'preprocessor_config.json'}: cannot load ({exc})") from exc
    if model_type in AST_TYPES:
        return tf.ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=config.max_length)
    if model_type in WHISPER_TYPES:
        return tf.WhisperFeatureExtractor(feature_size=config.num_mel_bins)
    return tf.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )


def load_hf_audio(spec: EncoderSpec, device: str) -> HFAudioEncoder:
    """Load an audio model (never trusting remote code) with the pooling and layer of `spec`."""
    import transformers as tf

    device = resolve_device(device)
    source = locate(spec)
    model_type = model_type_of(source)
    kw: dict[str, Any] = {"revision": source.revision, "trust_remote_code": False}
    quiet_third_party()
    if model_type in AST_TYPES:
        cls, model_cls, poolings = ASTEncoder, tf.ASTModel, ("pooled", "mean", "cls")
    elif model_type in WAV2VEC2_TYPES:
        # AutoModel gives the bare encoder (e.g. Wav2Vec2Model), ignoring custom heads such as audEERING's
        cls, model_cls, poolings = Wav2Vec2Encoder, tf.AutoModel, ("mean",)
    elif model_type in WHISPER_TYPES:
        cls, model_cls, poolings = WhisperEncoder, tf.WhisperModel, ("mean",)
    else:
        raise EncoderError(
            f"encoder {spec.name!r}: {source.path_or_id} has model_type {model_type!r}, not a supported audio "
            f"architecture (AST, wav2vec2 family, whisper)"
        )
    if spec.pooling not in poolings:
        raise EncoderError(
            f"encoder {spec.name!r}: pooling {spec.pooling!r} not available for {model_type}: {poolings}"
        )
    try:
        config = tf.AutoConfig.from_pretrained(source.path_or_id, **kw)
        model = model_cls.from_pretrained(source.path_or_id, **kw)
        fe = _feature_extractor(source, model_type, config)
    except (OSError, ValueError, KeyError) as exc:
        raise EncoderError(f"encoder {spec.name!r}: cannot load {source.path_or_id}: {exc}") from exc
    if model_type in WHISPER_TYPES:
        model = model.get_encoder()
    model.to(device).eval()
    dim = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0))
    n_layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "encoder_layers", 0))
    if spec.layer is not None and not 0 <= spec.layer <= n_layers:
        raise EncoderError(
            f"encoder {spec.name!r}: layer {spec.layer} out of range; hidden_states has 0..{n_layers}"
        )
    if spec.dim is not None and spec.dim != dim:
        raise EncoderError(f"encoder {spec.name!r}: model hidden size is {dim}, spec says {spec.dim}")
    resolved = dataclasses.replace(spec, revision=source.recorded, dim=dim, sample_rate=int(fe.sampling_rate))
    return cls(resolved, model, fe, device)
