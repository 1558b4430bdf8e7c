"""GPU paths on a small AST: extraction throughput on CUDA vs CPU, and full fine-tuning with autocast.

Run on a machine with a CUDA device (skips otherwise):

    python bench/gpu.py [--clips 96] [--epochs 2] [--workdir DIR]

The AST here has the real input shape (128 mel bins x 1024 frames, 10.24 s) but is narrower than
MIT/ast-finetuned-audioset (hidden 384 x 6 layers instead of 768 x 12) and randomly initialised:
hub weights cannot be fetched here. Prints one JSON object with the measured figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def small_ast(folder: Path) -> Path:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    torch.manual_seed(0)
    cfg = ASTConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1536)
    ASTModel(cfg).save_pretrained(folder)
    ASTFeatureExtractor().save_pretrained(folder)
    return folder


def small_text_encoder(folder: Path, texts: list[str]) -> Path:
    """A small BERT over the corpus's own word list: text features the cache needs for fine-tuning."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    words = sorted({w.strip(".,!?").lower() for t in texts for w in t.split()} - {""})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), model_max_length=64).save_pretrained(folder)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, max_position_embeddings=64)  # fmt: skip
    BertModel(cfg).save_pretrained(folder)
    return folder


def extraction_rate(manifest, model: Path, text_model: Path, out: Path, device: str, batch_size: int) -> float:
    from misgan.features.encoders import load_encoder, resolve_spec
    from misgan.features.extract import extract

    encoder = load_encoder(resolve_spec(str(model), modality="audio"), device=device)
    text = load_encoder(resolve_spec(str(text_model), modality="text"), device=device)
    t0 = time.perf_counter()
    extract(
        manifest, out, audio_encoder=encoder, text_encoder=text, device=device, batch_size=batch_size,
        progress=False,
    )  # fmt: skip
    return len(manifest) / (time.perf_counter() - t0)


def finetune_time(store_path: Path, manifest: Path, device: str, epochs: int, run_dir: Path) -> dict:
    from misgan.alignment.config import AlignConfig, FinetuneConfig
    from misgan.alignment.finetune_run import finetune
    from misgan.features.store import open_store

    with open_store(store_path) as store:
        first = sorted(set(store.meta()["speaker"]))[0]
    ft = FinetuneConfig(device=device, epochs=epochs, batch_size=8, max_seconds=4.0)
    t0 = time.perf_counter()
    config = AlignConfig(folds=(f"spk-{first}",))
    result = finetune(store_path, config, ft, run_dir, manifest=manifest, progress=False)
    seconds = time.perf_counter() - t0
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines() if line.strip()]
    losses = [r.get("loss", r.get("train_loss")) for r in log if r.get("loss", r.get("train_loss")) is not None]
    return {"seconds": seconds, "uar": result.summary["folds"][0]["uar"], "losses": losses}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=96)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return
    from misgan.pipeline.demo import generate_corpus

    work = args.workdir or Path(tempfile.mkdtemp(prefix="misgan-gpu-"))
    per_class = max(1, args.clips // 16)
    manifest = generate_corpus(work / "corpus", n_speakers=4, per_class=per_class, seed=0)
    manifest_csv = work / "corpus" / "manifest.csv"
    manifest["path"] = [str(work / "corpus" / p) for p in manifest["path"]]
    model = small_ast(work / "ast")
    text_model = small_text_encoder(work / "bert", manifest["text"].tolist())
    out: dict = {"device": torch.cuda.get_device_name(0), "clips": len(manifest), "torch": torch.__version__}

    def rate(rows, name: str, device: str) -> float:
        return extraction_rate(rows, model, text_model, work / name, device, args.batch_size)

    rate(manifest.head(16), "warm.zarr", "cuda")  # CUDA context and kernel selection, not timed
    out["extract_cuda_clips_per_s"] = rate(manifest, "gpu.zarr", "cuda")
    out["extract_cpu_clips_per_s"] = rate(manifest, "cpu.zarr", "cpu")
    out["extract_speedup"] = out["extract_cuda_clips_per_s"] / out["extract_cpu_clips_per_s"]
    from misgan.features.store import open_store

    a, b = open_store(work / "gpu.zarr"), open_store(work / "cpu.zarr")
    xa, xb = a.read("audio"), b.read("audio")
    cos = (xa * xb).sum(1) / (np.linalg.norm(xa, axis=1) * np.linalg.norm(xb, axis=1))
    out["extract_cuda_vs_cpu_min_cosine"] = float(cos.min())
    a.close()
    b.close()
    cuda = finetune_time(work / "gpu.zarr", manifest_csv, "cuda", args.epochs, work / "ft-cuda")
    cpu = finetune_time(work / "cpu.zarr", manifest_csv, "cpu", 1, work / "ft-cpu")
    out["finetune_cuda_s_per_epoch"] = cuda["seconds"] / args.epochs
    out["finetune_cpu_s_per_epoch"] = cpu["seconds"]
    out["finetune_speedup"] = out["finetune_cpu_s_per_epoch"] / out["finetune_cuda_s_per_epoch"]
    out["finetune_cuda_losses"] = cuda["losses"]
    out["finetune_cuda_uar"] = cuda["uar"]
    out["peak_cuda_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
