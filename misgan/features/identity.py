"""The identity of a feature cache and what an extraction does with the cache already at its path.

The fingerprint hashes the manifest content, the class order, the *loaded* encoders'
specs (resolved revision included) and EXTRACTION_VERSION; batch size, device and workers are left out because they
do not change the output. Same fingerprint as an existing store: nothing to do. A different one is
refused unless `overwrite`, and never mixes into an unfinished store from other inputs.

`check_existing`: the finished store at the path is a cache hit (same fingerprint), or refused;
`check_unfinished`: an unfinished store `path.tmp` of the same inputs is resumed, one of other inputs refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from misgan.data.manifest import label_names as manifest_label_names
from misgan.data.manifest import manifest_sha256
from misgan.errors import StoreError
from misgan.features.backends import remove
from misgan.features.store import FeatureStore, open_store
from misgan.features.writer import tmp_path
from misgan.io import fingerprint as io_fingerprint
from misgan.parallel import dist

EXTRACTION_VERSION = 1


class SpecLike(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


def fingerprint(
    manifest: pd.DataFrame,
    audio_spec: SpecLike,
    text_spec: SpecLike | None,
    label_names: list[str] | None = None,
) -> str:
    """`misgan.io.fingerprint` (sha256 of canonical JSON) of the manifest's sha256, the class order, the
    encoder specs and the extraction version."""
    payload = {
        "extraction_version": EXTRACTION_VERSION,
        "manifest_sha256": manifest_sha256(manifest),
        "label_names": list(label_names or manifest_label_names(manifest)),
        "audio": audio_spec.to_dict(),
        "text": None if text_spec is None else text_spec.to_dict(),
    }
    return io_fingerprint(payload)


def check_existing(out: Path, fp: str, overwrite: bool) -> tuple[int, list[dict[str, str]]] | None:
    """(rows, failures) of the finished store at `out` if it matches `fp` (a cache hit); StoreError if not."""
    if not out.exists():
        return None
    try:
        store = open_store(out)
    except StoreError:
        if overwrite:
            return None
        raise
    if store.fingerprint == fp and not overwrite:
        hit = (store.n_rows, store.failures)
        store.close()
        return hit
    store.close()
    if overwrite:
        return None
    raise StoreError(
        f"{out}: this cache was built from a different manifest or encoders (fingerprint "
        f"{str(store.fingerprint)[:12]} != {fp[:12]}); pass --overwrite to replace it, or choose another -o"
    )


def check_unfinished(out: Path, fp: str, overwrite: bool) -> None:
    """Resume only an unfinished store of the same inputs; refuse one of other inputs unless `overwrite`."""
    tmp = tmp_path(out)
    if not tmp.exists():
        return
    try:
        store = FeatureStore.resume(out)
    except StoreError:
        # killed while the store was being created (no attributes yet), or an HDF5 file broken by a
        # kill mid-write: nothing usable in it, so start again
        store = None
    if store is not None:
        same = store.fingerprint == fp
        store.close()
        if same:
            return
        if not overwrite:
            raise StoreError(
                f"{tmp}: an unfinished extraction from different inputs is in the way; "
                "pass --overwrite to discard it (or finish it with its own command)"
            )
    if dist()[0] == 0:
        remove(tmp)
