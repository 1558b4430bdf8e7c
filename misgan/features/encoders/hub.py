"""Where a Hugging Face model comes from, and which exact revision that is.

A local folder is recorded as "sha256:<content hash>"; a hub id as the commit hash of the snapshot
in the hub cache (resolving `spec.revision`, e.g. "main", once, then loading every file at that
commit). Remote code is never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from misgan.errors import EncoderError
from misgan.features.encoders.base import folder_hash
from misgan.features.encoders.registry import EncoderSpec
from misgan.features.encoders.resolve import HUB_ID


@dataclass(frozen=True)
class Source:
    """What `from_pretrained` is given, and the revision to record."""

    path_or_id: str  # local folder or hub id
    revision: str | None  # commit to pass to from_pretrained (None for a local folder)
    recorded: str  # revision written into the loaded encoder's spec
    folder: Path  # folder holding config.json (the local folder or the cache snapshot)


def locate(spec: EncoderSpec) -> Source:
    """Find `spec.model_id` locally or in the hub cache (downloading only when the hub is reachable)."""
    folder = Path(spec.model_id).expanduser()
    if folder.is_dir():
        folder = folder.resolve()
        if not (folder / "config.json").is_file():
            raise EncoderError(f"{folder / 'config.json'}: missing; a local encoder folder needs a config.json")
        return Source(str(folder), None, folder_hash(folder), folder)
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download

    mid, rev = spec.model_id, spec.revision
    if not HUB_ID.match(mid):
        raise EncoderError(f"{mid}: no such model folder (and not a Hugging Face id of the form owner/name)")
    try:
        config = Path(hf_hub_download(mid, "config.json", revision=rev))
    except hf_errors.GatedRepoError as exc:
        raise EncoderError(
            f"model {mid!r} is gated on the Hugging Face hub: accept its licence and log in (hf auth login), "
            f"or pass a local model folder"
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise EncoderError(
            f"model {mid!r}: no such repository on the Hugging Face hub (or it is private)"
        ) from exc
    except (hf_errors.RevisionNotFoundError, hf_errors.HFValidationError) as exc:
        raise EncoderError(f"model {mid!r}: revision {rev!r} not found on the hub") from exc
    except (hf_errors.LocalEntryNotFoundError, OSError, hf_errors.HfHubHTTPError) as exc:
        # (LocalEntryNotFoundError subclasses EntryNotFoundError in recent huggingface_hub: test it first)
        raise EncoderError(
            f"model {mid!r} (revision {rev!r}) is not in the local Hugging Face cache and could not be downloaded "
            f"({type(exc).__name__}): it needs network access once (unset HF_HUB_OFFLINE), or pass a local "
            f"model folder instead"
        ) from exc
    except hf_errors.EntryNotFoundError as exc:
        raise EncoderError(
            f"model {mid!r} (revision {rev!r}) has no config.json: not a transformers model"
        ) from exc
    commit = config.parent.name if config.parent.parent.name == "snapshots" else rev
    return Source(mid, commit, commit, config.parent)


def model_type_of(source: Source) -> str:
    from misgan.features.encoders.resolve import read_model_type

    return read_model_type(source.folder)
