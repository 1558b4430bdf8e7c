"""Stage 1, full fine-tuning mode: the Hugging Face audio encoder trained end to end on raw audio.

Per fold, on the training speakers only, with the loss of adapter mode (eq. 7, `align.stage1_losses`):
  h = pool(f_a(x_a))      the encoder's pooled output (eq. 1); its width is the model's hidden size
  W_y, W_t, eq. 5 projections as in adapter mode; early stopping on the validation speakers' UAR.
Then every row is re-encoded with the fine-tuned encoder and `folds/<fold>/` gets h and the heads.

- Encoders: AST and the wav2vec2 family (those `misgan.features.encoders` loads), reloaded fresh for every
  fold so no fold sees weights tuned on its test speaker.
- `lora=True` trains LoRA adapters (peft) on the attention projections; the base weights stay frozen.
- On CUDA: bf16/fp16 autocast; gradient checkpointing where the model supports it; gradient
  accumulation everywhere (`accumulate` batches per optimiser step).
- Text (§4.2.2): the cache's text features are used as they are, unless `text_finetune` is "full" or
  "lora": then the text encoder is first fine-tuned on the fold's training transcripts to predict
  emotion (CE on a linear head), frozen, and every transcript re-encoded; that fold's t is written as
  `folds/<fold>/text` (stage 2 should prefer it to the store's text when present).
- Audio paths: the cache stores utt_id only, so a manifest (with paths) must be given; its rows are
  matched by utt_id, and its sha256 is compared with the one the cache recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan import metrics
from misgan.alignment.config import FinetuneConfig
from misgan.errors import MisganError

if TYPE_CHECKING:
    import torch

    from misgan.alignment.adapter import AlignConfig, AlignResult
    from misgan.data.folds import Fold


class AudioBackbone:
    """A loaded misgan audio encoder used with gradients: prepare (padding, masks) + pooled forward."""

    def __init__(self, encoder: Any, device: str) -> None:
        from misgan.features.encoders.hf_audio import ASTEncoder, Wav2Vec2Encoder

        if not isinstance(encoder, (ASTEncoder, Wav2Vec2Encoder)):
            raise MisganError(
                f"fine-tuning supports AST and wav2vec2-family encoders; the cache's audio encoder is "
                f"{encoder.spec.name!r} ({type(encoder).__name__}). Use adapter mode (no --finetune)."
            )
        self.enc, self.model, self.device = encoder, encoder.model, device
        self.is_ast = isinstance(encoder, ASTEncoder)

    def __call__(self, wavs: list[np.ndarray]) -> torch.Tensor:
        import torch

        from misgan.features.encoders.base import masked_mean

        inputs = self.enc.prepare(wavs)
        spec = self.enc.spec
        hidden_states = spec.layer is not None
        if self.is_ast:
            out = self.model(
                input_values=inputs["input_values"].to(self.device), output_hidden_states=hidden_states
            )
            if spec.pooling == "pooled":
                return out.pooler_output.float()
            hidden = (out.last_hidden_state if spec.layer is None else out.hidden_states[spec.layer]).float()
            return hidden[:, 0] if spec.pooling == "cls" else hidden.mean(1)
        values, mask = inputs["input_values"].to(self.device), inputs["attention_mask"].to(self.device)
        masked = getattr(self.enc, "_masked", None)
        if masked is not None:
            masked.lengths = mask.sum(1)
        try:
            out = self.model(values, attention_mask=mask, output_hidden_states=hidden_states)
        finally:
            if masked is not None:
                masked.lengths = None
        hidden = (out.last_hidden_state if spec.layer is None else out.hidden_states[spec.layer]).float()
        frames = self.model._get_feat_extract_output_lengths(mask.sum(1))
        frame_mask = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
        return masked_mean(hidden, frame_mask)


def apply_lora(model: Any, config: FinetuneConfig, extra_targets: tuple[str, ...] = ()) -> Any:
    """Inject LoRA into the attention projections of `model` in place; only LoRA weights stay trainable."""
    from peft import LoraConfig, inject_adapter_in_model

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"}
    targets = sorted(names & {"q_proj", "v_proj", "query", "value", "q_lin", "v_lin", *extra_targets})
    if not targets:
        raise MisganError(f"LoRA: no attention projections (q_proj/v_proj/query/value) in {type(model).__name__}")
    cfg = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=targets
    )
    model = inject_adapter_in_model(cfg, model)
    for name, p in model.named_parameters():
        p.requires_grad = "lora_" in name
    return model


def _autocast(device: str) -> Any:
    import contextlib

    import torch

    if device.startswith("cuda"):
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def _device(config: FinetuneConfig) -> str:
    import torch

    return config.device or ("cuda" if torch.cuda.is_available() else "cpu")


class ClipReader:
    """Reads clips on demand at the encoder's rate (cached: folds revisit the same files)."""

    def __init__(self, paths: list[str], sr: int, max_cache: int = 20000) -> None:
        self.paths, self.sr, self.cache, self.max_cache = paths, sr, {}, max_cache

    def __call__(self, i: int) -> np.ndarray:
        from misgan.data.audio import read_audio

        if i not in self.cache:
            wav = read_audio(self.paths[i], self.sr)
            if len(self.cache) >= self.max_cache:
                return wav
            self.cache[i] = wav
        return self.cache[i]


def _crop(wav: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    if len(wav) <= n:
        return wav
    start = int(rng.integers(0, len(wav) - n + 1))
    return wav[start : start + n]


def encode_rows(backbone: AudioBackbone, clips: ClipReader, rows: np.ndarray, batch_size: int) -> torch.Tensor:
    """Pooled features of `rows` with the current weights (eval mode, no gradients, full clips)."""
    import torch

    backbone.model.eval()
    out = []
    with torch.no_grad(), _autocast(backbone.device):
        for s in range(0, len(rows), batch_size):
            out.append(backbone([clips(int(i)) for i in rows[s : s + batch_size]]).float().cpu())
    return torch.cat(out)


def finetune_fold(
    clips: ClipReader,
    audio_spec: Any,
    text: np.ndarray,
    y: np.ndarray,
    fold: Fold,
    config: AlignConfig,
    ft: FinetuneConfig,
    n_classes: int,
    log: Any = None,
    progress: bool | None = None,
    save_to: Path | None = None,
) -> AlignResult:
    """Fine-tune a fresh copy of the audio encoder on `fold.train`; return h of every row and the heads."""
    import torch

    from misgan.alignment.adapter import make_heads, stage1_losses, standardiser
    from misgan.alignment.finish import finish_fold
    from misgan.alignment.losses import class_weights_from_labels
    from misgan.alignment.minibatch import batches, early_stopping, monitor_score
    from misgan.callbacks import BestState, JsonlLogger, Progress
    from misgan.features.encoders import load_encoder
    from misgan.training import fit

    device = _device(ft)
    torch.manual_seed(ft.seed)
    gen = torch.Generator().manual_seed(ft.seed)
    rng = np.random.default_rng(ft.seed)
    backbone = AudioBackbone(load_encoder(audio_spec, device), device)
    model = backbone.model
    if ft.lora:
        apply_lora(model, ft)
    if ft.checkpointing and device.startswith("cuda") and getattr(model, "supports_gradient_checkpointing", False):
        model.gradient_checkpointing_enable()
    dim_h = int(backbone.enc.dim)
    heads = make_heads(dim_h, n_classes, text.shape[1], config.shared_dim).to(device)
    t_mu, t_sd = standardiser(text, fold.train)
    t_raw = torch.from_numpy(text).float().to(device)
    t_std = torch.from_numpy((text - t_mu) / t_sd).float().to(device)
    yt = torch.from_numpy(y).long().to(device)
    enc_params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": list(heads.parameters()), "lr": ft.head_lr}]
    if enc_params:
        groups.append({"params": enc_params, "lr": ft.head_lr if ft.lora else ft.encoder_lr})
    opt = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    weights = None
    if config.class_weights:
        weights = torch.as_tensor(class_weights_from_labels(y[fold.train], n_classes), dtype=torch.float32)
        weights = weights.to(device)
    crop = int(ft.max_seconds * backbone.enc.spec.sample_rate)
    valid_rows = fold.valid if len(fold.valid) else fold.train
    module = torch.nn.ModuleDict({"encoder": model, **heads})

    def step(epoch: int) -> dict[str, Any]:
        model.train()
        sums: dict[str, float] = {}
        opt.zero_grad()
        parts = batches(fold.train, ft.batch_size, gen)
        for i, rows in enumerate(parts, start=1):
            wavs = [_crop(clips(int(r)), crop, rng) for r in rows]
            with _autocast(device):
                h = backbone(wavs)
            out = stage1_losses(heads, h.float(), t_raw[rows], t_std[rows], yt[rows], config, weights)
            (out["loss"] / ft.accumulate).backward()
            if i % ft.accumulate == 0 or i == len(parts):
                opt.step()
                opt.zero_grad()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(rows)
        record = {"fold": fold.name, "epoch": epoch, **{k: v / len(fold.train) for k, v in sums.items()}}
        with torch.no_grad():
            logits = heads["head_y"](encode_rows(backbone, clips, valid_rows, ft.batch_size).to(device))
        record["val_uar"] = metrics.uar(y[valid_rows], logits.argmax(1).cpu().numpy())
        record["val_ser"] = float(torch.nn.functional.cross_entropy(logits, yt[valid_rows]))
        return record

    # the encoder's frozen weights (LoRA) need no copy: only trainable tensors are kept
    best = BestState(module, monitor_score(config.monitor), "max", trainable_only=True)
    progress_bar = Progress(f"finetune {fold.name}", progress, leave=False)
    callbacks = [JsonlLogger(log), progress_bar, best, early_stopping(best, config)]
    history = fit(step, epochs=ft.epochs, callbacks=callbacks).history
    if save_to is not None:
        model.save_pretrained(save_to)
    h_all = encode_rows(backbone, clips, np.arange(len(y)), ft.batch_size)
    heads.to("cpu").eval()
    return finish_fold(h_all, heads, text, y, fold, config, n_classes, {}, history, best.best_epoch)


def finetune_text(
    texts: list[str], y: np.ndarray, fold: Fold, text_spec: Any, ft: FinetuneConfig, n_classes: int
) -> np.ndarray:
    """§4.2.2: fine-tune the text encoder to predict emotion on the fold's training transcripts (full or
    LoRA), freeze it, and return every transcript re-encoded with it (N, Dt)."""
    import torch

    from misgan.alignment.minibatch import batches
    from misgan.features.encoders import load_encoder
    from misgan.training import fit

    device = _device(ft)
    torch.manual_seed(ft.seed)
    gen = torch.Generator().manual_seed(ft.seed)
    enc = load_encoder(text_spec, device)
    model = enc.model
    if ft.text_finetune == "lora":
        apply_lora(model, ft)
    head = torch.nn.Linear(enc.dim, n_classes).to(device)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=ft.text_lr if ft.text_finetune == "full" else ft.head_lr)
    yt = torch.from_numpy(y).long().to(device)

    def step(epoch: int) -> dict[str, Any]:
        model.train()
        total = 0.0
        for rows in batches(fold.train, ft.batch_size, gen):
            inputs = {k: v.to(device) for k, v in enc.prepare([texts[int(r)] for r in rows]).items()}
            with _autocast(device):
                out = model(**inputs)
            mask = inputs["attention_mask"].unsqueeze(-1).float()
            pooled = (out.last_hidden_state.float() * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            loss = torch.nn.functional.cross_entropy(head(pooled), yt[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        return {"epoch": epoch, "text_loss": total / len(fold.train)}

    fit(step, epochs=ft.text_epochs)
    model.eval()
    return np.concatenate([enc.encode(texts[s : s + 64]) for s in range(0, len(texts), 64)]).astype(np.float32)
