"""openSMILE functionals (eGeMAPSv02: 88 dims, ComParE_2016: 6373 dims): the offline audio encoders."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from misgan.errors import EncoderError
from misgan.features.encoders.base import BadInputError, Encoder, check_audio_batch
from misgan.features.encoders.registry import EncoderSpec

# Known output widths, checked against what openSMILE produces at load.
DIMS = {"eGeMAPSv02": 88, "ComParE_2016": 6373}


class OpenSmileEncoder(Encoder):
    """One `opensmile.Smile` per encoder; clips are processed one by one (openSMILE has no batching)."""

    def __init__(self, spec: EncoderSpec) -> None:
        import opensmile

        try:
            feature_set = opensmile.FeatureSet[spec.model_id]
        except KeyError:
            names = ", ".join(f.name for f in opensmile.FeatureSet)
            raise EncoderError(
                f"encoder {spec.name!r}: unknown openSMILE feature set {spec.model_id!r} ({names})"
            ) from None
        if spec.sample_rate is None:
            raise EncoderError(f"encoder {spec.name!r}: openSMILE needs a sample_rate")
        self._smile = opensmile.Smile(feature_set=feature_set, feature_level=opensmile.FeatureLevel.Functionals)
        dim = len(self._smile.feature_names)
        if spec.dim is not None and spec.dim != dim:
            raise EncoderError(
                f"encoder {spec.name!r}: openSMILE {spec.model_id} gives {dim} features, spec says {spec.dim}"
            )
        self.feature_names: list[str] = list(self._smile.feature_names)
        self.spec = dataclasses.replace(spec, dim=dim, revision=f"opensmile=={opensmile.__version__}")
        self.device = "cpu"

    def prepare(self, batch: Sequence[Any]) -> list[np.ndarray]:
        return check_audio_batch(batch)

    def forward(self, inputs: list[np.ndarray]) -> np.ndarray:
        sr = self.spec.sample_rate
        out = np.empty((len(inputs), self.dim), dtype=np.float32)
        for i, wav in enumerate(inputs):
            with warnings.catch_warnings():
                # "Segment too short, filling with NaN": turned into a BadInputError just below
                warnings.simplefilter("ignore", UserWarning)
                values = self._smile.process_signal(wav, sr).to_numpy(dtype=np.float32)
            if values.shape != (1, self.dim):
                raise BadInputError(i, f"openSMILE returned shape {values.shape}, expected (1, {self.dim})")
            if not np.isfinite(values).all():
                raise BadInputError(
                    i, f"openSMILE {self.spec.model_id} gave NaN: clip of {len(wav) / sr:.3f} s is too short"
                )
            out[i] = values[0]
        return out
