"""Outside information for stage 3's generator (issue 11 item 4): other corpora and text-only sentences.

`--source-cache PATH` (repeatable): the generator of each target fold is trained on the fold's training rows
PLUS every row of the source caches, mapped into that fold's h space through the fold's own stage-1
standardisation and adapter (`alignment.adapter.recompute_h`). The sources must have been built with the same
encoders (the specs in the caches' attrs). A source of the target's own corpus (same `corpus` attr) loses the
fold's test speakers and test utt_ids, so no test row of the target ever reaches the generator.

`--text-source FILE.csv`: new conditioning sentences for G(z, c, t), read and encoded by
`misgan.augmentation.text_source`; "ours" draws its conditioning text from the sentences of the requested class.
The "ours" augmenter each fold gets from them: misgan.augmentation.outside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan.augmentation.fold_data import AugmentError

if TYPE_CHECKING:
    from misgan.augmentation.outside import Outside

Echo = Callable[[str], None]

# MELD's emotions onto the 4-class SER set (the README of ../shared/data/meld-text); others are dropped
LABEL_ALIASES = {"joy": "happy", "happiness": "happy", "sadness": "sad", "anger": "angry", "neutral": "neutral"}
# what identifies an encoder's output (the name may differ: a registry name vs. the same folder)
SPEC_FIELDS = ("backend", "model_id", "revision", "layer", "pooling", "sample_rate", "dim")


class SourceError(AugmentError):
    """A source cache or text source cannot be used with this target cache."""


# ---------------------------------------------------------------- encoder specs


def encoder_identity(store: Any, modality: str) -> dict[str, Any] | None:
    """What determines the `modality` features of a cache: the spec fields, or (imported features, whose
    encoder is unknown) the width only."""
    if modality not in store.dims or store.dims.get(modality) is None:
        return None
    spec = dict((store.attrs.get("encoders") or {}).get(modality) or {})
    if spec.get("backend") in (None, "import"):
        return {"backend": "import", "dim": int(store.dims[modality])}
    return {k: spec.get(k) for k in SPEC_FIELDS} | {"dim": int(store.dims[modality])}


def check_same_encoders(target: Any, other: Any, modalities: tuple[str, ...], role: str = "source cache") -> None:
    """Raise SourceError naming both caches when `other`'s encoders differ from `target`'s."""
    for m in modalities:
        a, b = encoder_identity(target, m), encoder_identity(other, m)
        if b is None and a is not None:
            raise SourceError(f"{role} {other.path}: no {m} features, but {target.path} has them")
        if a != b:
            raise SourceError(
                f"{role} {other.path}: its {m} encoder {_describe(b)} differs from "
                f"{target.path}'s {_describe(a)}; both caches must be built with the same encoders"
            )


def _describe(spec: dict[str, Any] | None) -> str:
    if spec is None:
        return "(none)"
    if spec.get("backend") == "import":
        return f"(imported, {spec['dim']} dims)"
    return (
        f"({spec.get('model_id')}@{str(spec.get('revision'))[:12]}, {spec.get('pooling')}, {spec.get('dim')} dims)"
    )


# ---------------------------------------------------------------- labels


def map_labels(labels: Any, target_names: list[str], where: str, echo: Echo) -> tuple[np.ndarray, dict[str, int]]:
    """Target class index per label (-1 = dropped): same name, else an alias (MELD joy -> happy, ...).
    Prints one line with the count of every dropped label."""
    index = {n: i for i, n in enumerate(target_names)}
    out, dropped = np.full(len(labels), -1, np.int64), {}
    for i, raw in enumerate(labels):
        lab = str(raw).strip()
        k = index.get(lab, index.get(LABEL_ALIASES.get(lab.lower(), ""), -1))
        out[i] = k
        if k < 0:
            dropped[lab] = dropped.get(lab, 0) + 1
    if dropped:
        echo(
            f"{where}: dropped rows of labels outside {target_names}: "
            + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()))
        )
    return out, dropped


# ---------------------------------------------------------------- source caches


@dataclass
class SourceCache:
    """All usable rows of one source cache (raw features; mapped per target fold by `fold_rows`)."""

    path: str
    fingerprint: str | None
    corpus: str
    audio: np.ndarray
    text: np.ndarray | None
    y: np.ndarray  # target class indices
    speakers: np.ndarray
    utt_ids: np.ndarray
    dropped_labels: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "fingerprint": self.fingerprint,
            "rows": len(self.y),
            "dropped_labels": self.dropped_labels,
        }


def load_sources(target: Any, paths: tuple[str, ...], need_text: bool, echo: Echo) -> list[SourceCache]:
    """Open every source cache, check its encoders against the target's, keep its rows of target classes."""
    from misgan.features.store import open_store

    out = []
    modalities = ("audio", "text") if need_text else ("audio",)
    for p in paths:
        with open_store(p) as st:
            if st.fingerprint is not None and st.fingerprint == target.fingerprint:
                raise SourceError(f"source cache {st.path}: the target cache itself ({target.path})")
            check_same_encoders(target, st, modalities)
            meta = st.meta()
            y, dropped = map_labels(meta["label"].tolist(), target.label_names, f"source cache {st.path}", echo)
            keep = np.flatnonzero(y >= 0)
            if not len(keep):
                raise SourceError(f"source cache {st.path}: no row of the target's classes {target.label_names}")
            out.append(
                SourceCache(
                    path=str(st.path),
                    fingerprint=st.fingerprint,
                    corpus=str(st.attrs.get("corpus") or ""),
                    audio=st.read("audio", keep),
                    text=st.read("text", keep) if need_text else None,
                    y=y[keep],
                    speakers=meta["speaker"].astype(str).to_numpy()[keep],
                    utt_ids=meta["utt_id"].astype(str).to_numpy()[keep],
                    dropped_labels=dropped,
                )
            )
        echo(f"source cache {p}: {len(keep)} rows (fingerprint {str(out[-1].fingerprint)[:12]})")
    return out


def clean_rows(src: SourceCache, test_speakers: set[str], test_utts: set[str], target_corpus: str) -> np.ndarray:
    """The rows of `src` the generator of a target fold may see. A source of the same corpus as the target
    (the same `corpus` attr, or both unnamed) loses the fold's test speakers and test utterances (utt_id); the
    rows of another named corpus are all kept (its speakers and utt_ids are other people's)."""
    if src.corpus != target_corpus:
        return np.arange(len(src.y))
    leak = np.isin(src.utt_ids, list(test_utts)) | np.isin(src.speakers, list(test_speakers))
    return np.flatnonzero(~leak)


def fold_rows(
    sources: list[SourceCache],
    arrays: dict[str, np.ndarray],
    attrs: dict[str, Any],
    target_corpus: str,
    test_utts: set[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, int]]:
    """(h, y, t, rows per source) of every source row mapped into one target fold's h space, without any
    row of the fold's test speakers (same corpus and speaker) or test utterances (same utt_id)."""
    from misgan.alignment.adapter import recompute_h

    if "audio_mean" not in arrays or not any(k.startswith("adapter.") for k in arrays):
        raise SourceError("the stage-1 fold stores no standardisation/adapter weights to map source rows with")
    test_spk = {str(s) for s in attrs.get("test_speakers", [])}
    hs, ys, ts, counts = [], [], [], {}
    for src in sources:
        keep = clean_rows(src, test_spk, test_utts, target_corpus)
        counts[src.path] = len(keep)
        hs.append(np.asarray(recompute_h(arrays, src.audio[keep], attrs["config"]), np.float32))
        ys.append(src.y[keep])
        if src.text is not None:
            ts.append(src.text[keep])
    t = np.concatenate(ts).astype(np.float32) if len(ts) == len(sources) else None
    return np.concatenate(hs), np.concatenate(ys), t, counts


def key_extras(config: Any) -> dict[str, Any]:
    """What the outside information adds to a stage-3 key: the source and test caches' fingerprints and the
    text source's sha256 (contents, not only paths). Empty without outside information (keys stay unchanged)."""
    from misgan.features.store import open_store
    from misgan.io import file_sha256

    out: dict[str, Any] = {}
    if getattr(config, "source_caches", ()):
        fps = []
        for p in config.source_caches:
            with open_store(p) as st:
                fps.append(st.fingerprint)
        out["sources"] = ",".join(str(f) for f in fps)
    if getattr(config, "test_cache", ""):
        with open_store(config.test_cache) as st:
            out["test_cache"] = st.fingerprint
    if getattr(config, "text_source", ""):
        if not Path(config.text_source).is_file():
            raise SourceError(f"text source {config.text_source}: file not found")
        out["text_source"] = file_sha256(config.text_source)
    return out


def prepare(store: Any, config: Any, runs_root: Path, echo: Echo) -> Outside | None:
    """The outside information `config` asks for (None when it asks for none); says once what is used."""
    from misgan.augmentation.outside import Outside
    from misgan.runs import cache_stem

    if not config.source_caches and not config.text_source:
        return None
    need_text = bool(config.gan.use_text) and "text" in store.dims
    found = load_sources(store, tuple(config.source_caches), need_text, echo)
    text = None
    if config.text_source:
        where = Path(runs_root) / cache_stem(store.path) / "text-sources"
        from misgan.augmentation.text_source import load_text_source

        text = load_text_source(store, config.text_source, where, echo)
    meta = store.meta()
    return Outside(found, text, str(store.attrs.get("corpus") or ""), meta["utt_id"].astype(str).to_numpy())


def report_lines(results: dict[str, Any]) -> list[str]:
    """The report's lines on the outside information of a run (none without it)."""
    outside = results.get("outside") or {}
    lines = []
    for s in outside.get("source_caches") or []:
        lines.append(
            f"- generator also trained on source cache `{s['path']}` (fingerprint {str(s['fingerprint'])[:12]}, "
            f"{s['rows']} rows of the target's classes; mapped through each fold's stage 1)"
        )
    ts = outside.get("text_source")
    if ts:
        lines.append(
            f"- ours conditioned on text-only sentences of `{ts['path']}` (sha256 {ts['sha256'][:12]}, "
            f"{ts['rows']} sentences; dropped labels: {ts['dropped_labels'] or 'none'})"
        )
    return lines
