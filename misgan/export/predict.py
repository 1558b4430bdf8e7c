"""Apply an exported model (misgan.export.bundle) to new audio: `misgan.load_model(dir).predict(paths)`.

    model = misgan.load_model("model/")            # reads model.json + weights.safetensors; no pickle
    df = model.predict(["a.wav", "b.wav"])         # path, label, p_<class>..., error (one row per file)

The encoders are loaded from the specs the cache recorded (`load_encoder`); a bundle whose encoder is not
available here, or loads at another revision than the one the model was trained on, is refused with an
ExportError naming the encoder. A multimodal bundle uses its audio+text classifier for rows with a
transcript and the audio classifier otherwise. `predict_to_csv` appends per chunk and skips done rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from misgan.export.bundle import FORMAT, ExportError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


class Model:
    """An exported model: the encoders' specs, stage 1 (standardisation + adapter) and the classifier(s)."""

    def __init__(self, folder: Path, meta: dict[str, Any], weights: dict[str, np.ndarray]) -> None:
        self.folder, self.meta, self.weights = folder, meta, weights
        self.label_names: list[str] = list(meta["label_names"])
        self.multimodal = "audio_text" in meta["classifiers"] and bool(meta["encoders"].get("text"))
        self._encoders: dict[str, Any] = {}
        self._clfs = {name: self._classifier(name) for name in meta["classifiers"]}

    def _classifier(self, name: str) -> Any:
        import torch

        from misgan.augmentation.config import ClassifierConfig
        from misgan.augmentation.trainer import _build
        from misgan.config import from_dict

        cfg = from_dict(ClassifierConfig, self.meta["classifiers"][name], f"{self.folder}/model.json")
        prefix = f"clf.{name}.model."
        state = {k[len(prefix) :]: torch.from_numpy(v) for k, v in self.weights.items() if k.startswith(prefix)}
        d_in = state["0.weight"].shape[1]
        module = _build(d_in, len(self.label_names), cfg)
        module.load_state_dict(state)
        module.eval()
        return module, self.weights.get(f"clf.{name}.mean"), self.weights.get(f"clf.{name}.scale")

    # ------------------------------------------------------------ features -> probabilities

    def h(self, audio_features: np.ndarray) -> np.ndarray:
        """Stage-1 features of raw encoder outputs (the all-speaker standardisation + adapter)."""
        from misgan.alignment.adapter import recompute_h

        arrays = {k[len("stage1.") :]: v for k, v in self.weights.items() if k.startswith("stage1.")}
        x = np.asarray(audio_features, np.float32)
        return recompute_h(arrays, x, self.meta["align_config"])

    def proba_from_features(
        self, audio_features: np.ndarray, text_features: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, C) class probabilities from encoder outputs (text used by a multimodal bundle when given)."""
        import torch

        h = self.h(audio_features)
        name, x = "audio", h
        if text_features is not None and self.multimodal:
            name, x = "audio_text", np.concatenate([h, np.asarray(text_features, np.float32)], axis=1)
        module, mean, scale = self._clfs[name]
        if mean is not None and scale is not None:
            x = (x - mean) / scale
        with torch.no_grad():
            return torch.softmax(module(torch.from_numpy(np.asarray(x, np.float32))), dim=1).numpy()

    # ------------------------------------------------------------ encoders

    def encoder(self, modality: str, device: str = "cpu") -> Any:
        """The recorded encoder, loaded once; ExportError when unavailable or at another revision."""
        from misgan.errors import MisganError
        from misgan.features.encoders import EncoderSpec, load_encoder

        if modality in self._encoders:
            return self._encoders[modality]
        spec = EncoderSpec.from_dict(self.meta["encoders"][modality])
        where = (
            f"model bundle {self.folder}: its {modality} encoder {spec.name!r} ({spec.model_id} @ {spec.revision})"
        )
        try:
            enc = load_encoder(spec, device)
        except (MisganError, ImportError, OSError) as exc:
            raise ExportError(f"{where} is not available here: {exc}") from None
        if enc.spec.revision != spec.revision or enc.dim != spec.dim:
            raise ExportError(
                f"{where}: loaded revision {enc.spec.revision} (dim {enc.dim}) differs from the one the model "
                f"was trained on; its features would not match"
            )
        self._encoders[modality] = enc
        return enc

    def check_encoders(self, device: str = "cpu") -> None:
        """Load every encoder the bundle needs now (fail before any work)."""
        self.encoder("audio", device)
        if self.multimodal:
            self.encoder("text", device)

    def predict(
        self, paths: Sequence[str | Path], texts: Sequence[str | None] | None = None, *, device: str = "cpu"
    ) -> Any:
        """One row per path: path, (text), label, p_<class>..., error ("" when scored)."""
        import pandas as pd

        from misgan.data.audio import read_audio
        from misgan.errors import MisganError

        enc = self.encoder("audio", device)
        texts = list(texts) if texts is not None else [None] * len(paths)
        rows: list[dict[str, Any]] = [{"path": str(p), "error": ""} for p in paths]
        ok, wavs = [], []
        for i, p in enumerate(paths):
            try:
                wavs.append(read_audio(p, enc.sample_rate or 16000))
                ok.append(i)
            except MisganError as exc:
                rows[i]["error"] = str(exc)
        probs = np.zeros((0, len(self.label_names)), np.float32)
        if ok:
            feats = enc.encode(wavs)
            with_text = [i for i in ok if isinstance(texts[i], str) and texts[i]] if self.multimodal else []
            probs = self.proba_from_features(feats)
            if with_text:
                tfeat = self.encoder("text", device).encode([texts[i] for i in with_text])
                sel = [ok.index(i) for i in with_text]
                probs[sel] = self.proba_from_features(feats[sel], tfeat)
        for j, i in enumerate(ok):
            rows[i]["label"] = self.label_names[int(probs[j].argmax())]
            rows[i].update({f"p_{n}": float(probs[j, c]) for c, n in enumerate(self.label_names)})
        cols = ["path", *(["text"] if self.multimodal else []), "label"]
        cols += [f"p_{n}" for n in self.label_names] + ["error"]
        df = pd.DataFrame(rows)
        if self.multimodal:
            df["text"] = [t or "" for t in texts]
        return df.reindex(columns=cols)


def load_model(folder: str | Path) -> Model:
    """Read a bundle written by `misgan export` (JSON + safetensors; no pickle, no code execution)."""
    from safetensors.numpy import load_file

    from misgan.errors import MisganError
    from misgan.io import file_sha256, read_json

    folder = Path(folder)
    for name in ("model.json", "weights.safetensors"):
        if not (folder / name).is_file():
            raise ExportError(f"{folder / name}: missing; not a model bundle from `misgan export`")
    try:
        meta = read_json(folder / "model.json")
    except MisganError as exc:
        raise ExportError(f"{folder / 'model.json'}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ExportError(f"{folder / 'model.json'}: format {meta.get('format')!r}, expected {FORMAT!r}")
    want = meta.get("fingerprints", {}).get("weights_sha256")
    if want and file_sha256(folder / "weights.safetensors") != want:
        raise ExportError(f"{folder / 'weights.safetensors'}: sha256 differs from model.json (file changed)")
    return Model(folder, meta, load_file(str(folder / "weights.safetensors")))


def collect_inputs(target: str | Path) -> tuple[list[str], list[str | None] | None]:
    """(paths, texts): an audio file, a folder (audio files below it, sorted), or a CSV with `path` (+ `text`)."""
    import pandas as pd

    target = Path(target)
    if target.is_dir():
        paths = sorted(str(p) for p in target.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not paths:
            raise ExportError(f"{target}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
        return paths, None
    if not target.is_file():
        raise ExportError(f"{target}: no such file or folder")
    if target.suffix.lower() != ".csv":
        return [str(target)], None
    df = pd.read_csv(target, dtype=str, keep_default_na=False)
    if "path" not in df.columns:
        raise ExportError(f"{target}: no 'path' column (columns: {', '.join(df.columns)})")
    paths = [p if Path(p).is_absolute() else str(target.parent / p) for p in df["path"]]
    return paths, (list(df["text"]) if "text" in df.columns else None)


def predict_to_csv(
    model: Model,
    paths: list[str],
    texts: list[str | None] | None,
    out: str | Path,
    *,
    chunk: int = 32,
    device: str = "cpu",
    echo: Callable[[str], None] | None = None,
) -> Any:
    """Score `paths` into `out`, appending one chunk at a time; rows already in `out` are skipped (resume)."""
    import pandas as pd

    from misgan.io import atomic_write

    say = echo or (lambda line: None)
    out = Path(out)
    done: set[str] = set()
    if out.is_file():
        prev = pd.read_csv(out, dtype=str, keep_default_na=False)
        # a run killed mid-write can leave a cut last line: keep only complete rows, rewrite once
        probs = prev[[f"p_{n}" for n in model.label_names if f"p_{n}" in prev.columns]]
        scored = probs.apply(pd.to_numeric, errors="coerce").notna().all(axis=1) & (probs.shape[1] > 0)
        failed = prev["error"].astype(str) != "" if "error" in prev.columns else False
        good = prev[scored | failed]
        if len(good) != len(prev) or not out.read_bytes().endswith(b"\n"):
            atomic_write(out, good.to_csv(index=False))
        done = set(good["path"])
        say(f"predict: {out}: {len(done)} row(s) done, resuming")
    todo = [i for i, p in enumerate(paths) if p not in done]
    if todo:
        model.check_encoders(device)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        df = model.predict(
            [paths[i] for i in part], None if texts is None else [texts[i] for i in part], device=device
        )
        with out.open("a", encoding="utf-8", newline="") as fh:
            df.to_csv(fh, index=False, header=fh.tell() == 0)
            fh.flush()
        say(f"predict: {min(start + chunk, len(todo))}/{len(todo)} file(s) scored -> {out}")
    return pd.read_csv(out, dtype=str, keep_default_na=False) if out.is_file() else pd.DataFrame()
