"""Tiny Hugging Face models built from configs and saved to a folder: no hub, a second or less each.

Other areas' tests can use them as real encoders, e.g.
    enc = load_encoder(str(tiny_ast_dir(tmp_path)), modality="audio")
All are seeded, so the same call builds the same weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# words of the tiny BERT vocabulary; anything else falls back to single letters
_WORDS = "the a i am you is are was not so very happy sad angry neutral calm good bad day today what why no yes"


def _seed() -> None:
    import torch

    torch.manual_seed(0)


def tiny_ast_dir(tmp_path: Path, *, with_feature_extractor: bool = False, **overrides: Any) -> Path:
    """AST: hidden 32, 2 layers, 32 mel bins, 128 frames (1.28 s) split into 16 patches.

    `overrides` replace config fields (e.g. zero dropout for training tests)."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    _seed()
    folder = Path(tmp_path) / "tiny-ast"
    config = ASTConfig(
        **{
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 64,
            "num_mel_bins": 32,
            "max_length": 128,
            "patch_size": 16,
            "frequency_stride": 16,
            "time_stride": 16,
        }
        | overrides
    )
    ASTModel(config).save_pretrained(folder)
    if with_feature_extractor:
        ASTFeatureExtractor(num_mel_bins=32, max_length=128).save_pretrained(folder)
    return folder


def tiny_wav2vec2_dir(
    tmp_path: Path, *, feat_extract_norm: str = "layer", model_type: str = "wav2vec2", **overrides: Any
) -> Path:
    """wav2vec2 (or "hubert"/"wavlm"): hidden 32, 2 layers, 2 conv layers (stride 20, receptive field 45).

    feat_extract_norm "layer" is the large-robust style (attention mask honoured); "group" the base style.
    """
    import transformers as tf

    _seed()
    folder = Path(tmp_path) / f"tiny-{model_type}-{feat_extract_norm}"
    kw = (
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16, 16),
            conv_stride=(5, 4),
            conv_kernel=(10, 8),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            feat_extract_norm=feat_extract_norm,
            do_stable_layer_norm=feat_extract_norm == "layer",
            vocab_size=16,
        )
        | overrides
    )
    classes = {
        "wav2vec2": (tf.Wav2Vec2Config, tf.Wav2Vec2Model),
        "hubert": (tf.HubertConfig, tf.HubertModel),
        "wavlm": (tf.WavLMConfig, tf.WavLMModel),
    }
    config_cls, model_cls = classes[model_type]
    model_cls(config_cls(**kw)).save_pretrained(folder)
    tf.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


def tiny_whisper_dir(tmp_path: Path) -> Path:
    """Whisper: d_model 32, 2 encoder layers, 80 mel bins, the real 30 s / 1500-frame geometry."""
    from transformers import WhisperConfig, WhisperModel

    _seed()
    folder = Path(tmp_path) / "tiny-whisper"
    config = WhisperConfig(
        vocab_size=64,
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=80,
        max_source_positions=1500,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    WhisperModel(config).save_pretrained(folder)
    return folder


def tiny_bert_dir(tmp_path: Path, *, sentence_transformers: bool = False) -> Path:
    """BERT: hidden 32, 2 layers, a ~60-token WordPiece vocabulary and its fast tokenizer, built offline.

    With `sentence_transformers`, also the files that make it a sentence-transformers folder
    (modules.json, mean pooling, Normalize), as all-MiniLM-L6-v2 ships.
    """
    import json

    from transformers import BertConfig, BertModel, BertTokenizerFast

    _seed()
    folder = Path(tmp_path) / ("tiny-sbert" if sentence_transformers else "tiny-bert")
    folder.mkdir(parents=True, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        *_WORDS.split(),
        *letters,
        *[f"##{c}" for c in letters],
        ".",
        ",",
    ]
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True, model_max_length=64)
    tokenizer.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    if sentence_transformers:
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
        (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16}), encoding="utf-8")
        (folder / "1_Pooling").mkdir(exist_ok=True)
        pooling = {
            "word_embedding_dimension": 32,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
        }
        (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    return folder
