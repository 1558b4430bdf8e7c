"""`misgan demo`: the whole pipeline on a synthetic emotional-speech corpus (misgan.pipeline.synthetic),
offline and on CPU, in a few minutes."""

from __future__ import annotations

from pathlib import Path

from misgan.pipeline.synthetic import SAMPLE_RATE, generate_corpus

__all__ = ["demo_config", "ensure_corpus", "generate_corpus", "run_demo"]


def demo_config(workdir: str | Path, seed: int = 0) -> dict:
    """The pipeline config of the demo (as a dict, the same shape as a YAML config file).

    Sized for a few minutes on 2 CPU cores: a small adapter, a short GAN run with early stopping, and
    the cheap comparison augmenters beside ours (the label-only GAN `cgan` would double the GAN time).
    """
    workdir = Path(workdir)
    return {
        "corpus": {"name": "csv", "root": str(workdir / "corpus"), "classes": "4",
                   "manifest": str(workdir / "manifest.csv")},
        "extract": {"audio_encoder": "egemaps", "text_encoder": "minilm", "format": "zarr",
                    "device": "cpu", "batch_size": 32, "output": str(workdir / "cache.zarr")},
        "align": {"protocol": "loso-speaker", "h_dim": 32, "epochs": 60, "patience": 10,
                  "class_weights": True, "lr": 1e-3, "dropout": 0.2},
        "gan": {"epochs": 60, "patience": 20, "threads": 1},
        "augment": {"methods": ["none", "noise", "mixup", "smote", "ours"], "tsne": False},
        "run": {"name": "run", "seed": seed, "runs_dir": str(workdir), "threads": 1},
    }  # fmt: skip


def ensure_corpus(root: str | Path, *, n_speakers: int, per_class: int, seed: int) -> Path:
    """Generate the corpus at `root` unless one made with the same settings is there already."""
    from misgan.errors import MisganError
    from misgan.io import read_json, write_json

    root = Path(root)
    stamp = root / "demo.json"
    settings = {"n_speakers": n_speakers, "per_class": per_class, "seed": seed, "sample_rate": SAMPLE_RATE}
    if (root / "manifest.csv").is_file() and stamp.is_file():
        try:
            if read_json(stamp) == settings:
                return root / "manifest.csv"
        except MisganError:
            pass  # a damaged stamp: generate again
    generate_corpus(root, n_speakers=n_speakers, per_class=per_class, seed=seed)
    write_json(stamp, settings)
    return root / "manifest.csv"


def run_demo(
    workdir: str | Path = "runs/demo",
    *,
    n_speakers: int = 8,
    per_class: int = 10,
    seed: int = 0,
    progress: bool | None = None,
    echo=print,
):
    """Generate the synthetic corpus under `workdir` and run the whole pipeline on it; return its Outcome."""
    from misgan.pipeline import runner as pipeline

    workdir = Path(workdir)
    echo(f"demo: synthetic corpus of {n_speakers} speakers x 4 emotions x {per_class} utterances in {workdir}")
    ensure_corpus(workdir / "corpus", n_speakers=n_speakers, per_class=per_class, seed=seed)
    cfg = pipeline.config_from_dict(demo_config(workdir, seed), "misgan demo")
    return pipeline.run(cfg, source="misgan demo", progress=progress, echo=echo)
