"""Saving and loading a fitted `misgan.gan.synthesizer.InfoGAN` (a folder: infogan.json, generator.pt,
arrays.npz). `InfoGANFiles` is mixed into InfoGAN, as `misgan.features.writer.StoreWriter` is into FeatureStore.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np

from misgan.alignment.config import AlignConfig
from misgan.errors import SynthesizerError
from misgan.gan.config import GanConfig

if TYPE_CHECKING:
    from misgan.gan.synthesizer import InfoGAN

FORMAT = "misgan-infogan/1"


class InfoGANFiles:
    """`save(folder)` and `InfoGAN.load(folder)`."""

    def save(self, path: str | Path) -> Path:
        """Write folder `path`: infogan.json (settings, classes), generator.pt (save_generator), arrays.npz."""
        from misgan.gan.checkpoint import save_generator
        from misgan.io import atomic_write, write_json

        self._check_fitted()
        path = Path(path)
        arrays = {**self._extras, **{f"head.{k}": v for k, v in self.heads_.items()}, "y_train": self._y_train}
        if self._t_train is not None:
            arrays["t_train"] = self._t_train
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(path / "arrays.npz", buf.getvalue())
        save_generator(path / "generator.pt", self._result, label_names=[str(c) for c in self.classes_])
        meta = {
            "format": FORMAT,
            "classes": self.classes_.tolist(),
            "classes_dtype": self.classes_.dtype.str if self.classes_.dtype != object else "object",
            "n_features_in": self.n_features_in_,
            "text_dim": self.text_dim_,
            "align": dataclasses.asdict(self.align_config),
            "align_used": None if self.align_config_ is None else dataclasses.asdict(self.align_config_),
            "valid_fraction": self.valid_fraction,
            "metrics": self.metrics_,
            "align_metrics": getattr(self, "align_metrics_", {}),
        }
        write_json(path / "infogan.json", meta)
        return path

    @classmethod
    def load(cls, path: str | Path) -> InfoGAN:
        """An InfoGAN whose `sample` and `transform` give what the saved one's gave."""
        from misgan.config import from_dict
        from misgan.gan.checkpoint import load_generator
        from misgan.io import read_json

        path = Path(path)
        meta = read_json(path / "infogan.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise SynthesizerError(f"{path / 'infogan.json'}: not a saved InfoGAN (format {FORMAT} expected)")
        g, ckpt = load_generator(path / "generator.pt")
        config = from_dict(GanConfig, ckpt["config"], f"{path / 'generator.pt'} config")
        try:
            with np.load(path / "arrays.npz", allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise SynthesizerError(f"{path / 'arrays.npz'}: cannot read the saved arrays ({exc})") from None
        self = cls(valid_fraction=meta["valid_fraction"])
        source = str(path / "infogan.json")
        self.config, self.align_config = config, from_dict(AlignConfig, meta["align"], source)
        self.align_config_ = (
            None if meta["align_used"] is None else from_dict(AlignConfig, meta["align_used"], source)
        )
        self.classes_ = np.asarray(meta["classes"], dtype=meta["classes_dtype"])
        self.n_features_in_, self.text_dim_ = meta["n_features_in"], meta["text_dim"]
        self.metrics_, self.align_metrics_ = meta["metrics"], meta["align_metrics"]
        self.heads_ = {k[5:]: v for k, v in arrays.items() if k.startswith("head.")}
        self._extras = {k: v for k, v in arrays.items() if k.startswith(("audio_", "adapter.", "x_"))}
        self._y_train, self._t_train = arrays["y_train"], arrays.get("t_train")
        keys = ("history", "best_epoch", "stopped", "metrics")
        self._result = SimpleNamespace(generator=g, config=config, **{k: ckpt.get(k) for k in keys})
        self._fitted = True
        return self
