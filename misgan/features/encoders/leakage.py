"""The leakage check: an encoder fine-tuned on the corpus it is about to be evaluated on (`TRAINED_ON`) makes
`check_leakage` return a message and, by default, emit a `LeakageWarning`.
"""

from __future__ import annotations

import re
import warnings

from misgan.features.encoders.registry import EncoderSpec

# model_id -> corpora the checkpoint was trained or fine-tuned on (evaluating there leaks).
TRAINED_ON: dict[str, tuple[str, ...]] = {
    "audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim": ("msp-podcast",),
}


class LeakageWarning(UserWarning):
    """The encoder was trained on the corpus it is about to be evaluated on."""


def _norm_corpus(corpus: str) -> str:
    return re.sub(r"[^a-z0-9]", "", corpus.lower())


def check_leakage(spec: EncoderSpec, corpus: str | None, *, warn: bool = True) -> str | None:
    """Return (and by default emit as a LeakageWarning) a message when `spec` was trained on `corpus`."""
    if not corpus:
        return None
    for trained in TRAINED_ON.get(spec.model_id, ()):
        if _norm_corpus(trained) == _norm_corpus(corpus):
            msg = (
                f"encoder {spec.name!r} ({spec.model_id}) was fine-tuned on {trained}: features of corpus "
                f"{corpus!r} leak test labels into the encoder; results on it are not comparable"
            )
            if warn:
                warnings.warn(msg, LeakageWarning, stacklevel=2)
            return msg
    return None
