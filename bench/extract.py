"""Extraction overhead and memory: end-to-end `extract()` throughput vs the bare batched forward.

    python bench/extract.py [--data DIR] [--n 64] [--batch-size 8] [--chunk-rows 16] [--device cpu]
                            [--rss-n 200] [--repeats 2] [--workdir runs/bench-extract]

1. Clips: the first `--n` RAVDESS files (or generated 3 s clips when the folder is absent), copied
   to 48 kHz so extraction pays for decoding *and* resampling to 16 kHz, as with the original corpus.
2. Encoder: a randomly initialised wav2vec2 with the *base* configuration (12 layers, 768 wide,
   95 M parameters; layer-norm feature extractor so padded batches are exact), built from its config
   and saved to a folder; hub weights are not needed for timing since the cost is the same.
3. Bare forward: the clips pre-decoded in memory, grouped exactly as extraction groups them
   (chunks of `--chunk-rows` in manifest order, sorted by length, batches of `--batch-size`),
   `prepare` done beforehand, only `forward` timed.
4. End to end: `misgan.features.extract.extract` on the manifest (reading, resampling, batching, prepare,
   forward, Zarr writes, finalise), same encoder object, same batches.
   ratio = end-to-end clips/s / bare-forward clips/s (target >= 0.9); best of `--repeats` each.
5. Memory: peak RSS of a fresh subprocess extracting `--rss-n` and 4x`--rss-n` clips with eGeMAPS
   (target: within 10 %): flat memory means no whole-corpus array is held.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ravdess-4class-16k"
SOURCE_SR = 48000


def make_clips(data: Path, n: int, folder: Path) -> list[dict]:
    """`n` clips at 48 kHz in `folder` (RAVDESS resampled up, or generated), as manifest rows."""
    import soundfile as sf
    import soxr

    folder.mkdir(parents=True, exist_ok=True)
    files = sorted(data.rglob("*.wav")) if data.is_dir() else []
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        if files:
            src = files[i % len(files)]
            x, sr = sf.read(src, dtype="float32")
            x = soxr.resample(x, sr, SOURCE_SR)
            label = ("neutral", "neutral", "happy", "sad", "angry")[int(src.stem.split("-")[2]) % 5]
            speaker = src.parent.name
        else:
            t = np.arange(int(3.0 * SOURCE_SR)) / SOURCE_SR
            x = (0.3 * np.sin(2 * np.pi * (120 + 10 * (i % 7)) * t) + 0.05 * rng.normal(size=len(t))).astype(
                np.float32
            )
            label, speaker = ("neutral", "happy", "sad", "angry")[i % 4], f"s{i % 6}"
        path = folder / f"clip{i:05d}.wav"
        sf.write(path, x, SOURCE_SR)
        rows.append({"utt_id": f"clip{i:05d}", "path": str(path), "label": label, "speaker": speaker, "text": ""})
    return rows


def build_model(folder: Path) -> Path:
    """A random wav2vec2-base-sized model saved as a local folder misgan can load."""
    import torch
    import transformers as tf

    if (folder / "config.json").exists():
        return folder
    torch.manual_seed(0)
    config = tf.Wav2Vec2Config(feat_extract_norm="layer", do_stable_layer_norm=True)  # base sizes otherwise
    tf.Wav2Vec2Model(config).save_pretrained(folder)
    tf.Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    ).save_pretrained(folder)
    return folder


def extraction_batches(wavs: list[np.ndarray], chunk_rows: int, batch_size: int) -> list[list[np.ndarray]]:
    """The batches extraction forms: chunks in order, longest first within a chunk."""
    batches = []
    for s in range(0, len(wavs), chunk_rows):
        chunk = wavs[s : s + chunk_rows]
        order = sorted(range(len(chunk)), key=lambda i: -len(chunk[i]))
        for b in range(0, len(order), batch_size):
            batches.append([chunk[i] for i in order[b : b + batch_size]])
    return batches


def bare_forward_seconds(enc, batches) -> float:
    prepared = [enc.prepare(b) for b in batches]  # not timed: it is part of the overhead we measure
    t = time.perf_counter()
    for inputs in prepared:
        enc.forward(inputs)
    return time.perf_counter() - t


def throughput(args: argparse.Namespace) -> dict:
    import torch

    from misgan.data.audio import read_audio
    from misgan.data.manifest import new_manifest
    from misgan.features.encoders import load_encoder
    from misgan.features.extract import extract

    work = Path(args.workdir)
    rows = make_clips(Path(args.data), args.n, work / "clips")
    manifest = new_manifest(rows)
    enc = load_encoder(str(build_model(work / "wav2vec2-base-random")), args.device, modality="audio")
    wavs = [read_audio(r["path"], 16000) for r in rows]
    batches = extraction_batches(wavs, args.chunk_rows, args.batch_size)
    enc.forward(enc.prepare(batches[0]))  # warm-up (allocator, kernels)
    seconds = float(sum(len(w) for w in wavs)) / 16000
    bare, e2e = [], []
    for rep in range(args.repeats):
        bare.append(bare_forward_seconds(enc, batches))
        out = work / f"e2e{rep}.zarr"
        t = time.perf_counter()
        extract(
            manifest,
            out,
            audio_encoder=enc,
            text_encoder=None,
            batch_size=args.batch_size,
            chunk_rows=args.chunk_rows,
            workers=args.workers,
            overwrite=True,
            progress=False,
        )
        e2e.append(time.perf_counter() - t)
    return {
        "clips": args.n,
        "audio_seconds": round(seconds, 1),
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "params_m": round(sum(p.numel() for p in enc.model.parameters()) / 1e6, 1),
        "batch_size": args.batch_size,
        "chunk_rows": args.chunk_rows,
        "bare_forward_s": [round(x, 2) for x in bare],
        "end_to_end_s": [round(x, 2) for x in e2e],
        "bare_clips_per_s": round(args.n / min(bare), 2),
        "e2e_clips_per_s": round(args.n / min(e2e), 2),
        "ratio": round(min(bare) / min(e2e), 3),
    }


_RSS_CHILD = """
import json, resource, sys, time
from pathlib import Path


def peak_kb():
    # VmHWM resets at exec; ru_maxrss would carry over the (large) parent's peak from before the exec
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


from misgan.features.encoders import load_encoder
from misgan.features.extract import extract
from misgan.data.manifest import new_manifest
rows = json.loads(Path(sys.argv[1]).read_text())
enc = load_encoder("egemaps")
base = peak_kb()
t = time.perf_counter()
extract(new_manifest(rows), sys.argv[2], audio_encoder=enc, text_encoder=None, chunk_rows=int(sys.argv[3]),
        progress=False)
peak = peak_kb()
print(json.dumps({"rows": len(rows), "base_kb": base, "peak_kb": peak, "seconds": time.perf_counter() - t}))
"""


def memory(args: argparse.Namespace) -> list[dict]:
    """Peak RSS of fresh processes extracting N and 4N clips (the clips repeat; ids are distinct)."""
    work = Path(args.workdir)
    base_rows = make_clips(Path(args.data), min(args.rss_n, 64), work / "rss-clips")
    out = []
    for n in (args.rss_n, 4 * args.rss_n):
        rows = [{**base_rows[i % len(base_rows)], "utt_id": f"u{i:06d}"} for i in range(n)]
        spec = work / f"rows{n}.json"
        spec.write_text(json.dumps(rows))
        res = subprocess.run(
            [sys.executable, "-c", _RSS_CHILD, str(spec), str(work / f"rss{n}.zarr"), str(args.chunk_rows_rss)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        out.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--chunk-rows", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rss-n", type=int, default=200)
    p.add_argument("--chunk-rows-rss", type=int, default=64)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--workdir", default=None, help="Scratch folder (default: a temporary one).")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = args.workdir or tmp
        report: dict = {}
        if not args.skip_throughput:
            report["throughput"] = thr = throughput(args)
            print(
                f"bare forward {thr['bare_clips_per_s']} clips/s, end-to-end {thr['e2e_clips_per_s']} clips/s, "
                f"ratio {thr['ratio']} (target >= 0.9)",
                flush=True,
            )
        if not args.skip_memory:
            report["memory"] = mem = memory(args)
            a, b = mem
            growth = (b["peak_kb"] - a["peak_kb"]) / a["peak_kb"]
            report["memory_growth"] = round(growth, 4)
            print(
                f"peak RSS {a['rows']} clips {a['peak_kb'] / 1024:.0f} MiB, {b['rows']} clips "
                f"{b['peak_kb'] / 1024:.0f} MiB: {100 * growth:+.1f} % (target within 10 %)",
                flush=True,
            )
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
