"""Outside information bound to the folds of one stage-3 run: `Outside` (the source caches and text source
that `misgan.augmentation.sources.prepare` found; results.json["outside"]) and, per target fold, the "ours"
augmenter it makes (`SourcedGanAugmenter`: trained on the fold's rows plus the source rows mapped through the
fold's stage 1, conditioned on the text source's sentences).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan.augmentation.augmenters import GanAugmenter
from misgan.augmentation.fold_data import TrainView, _check_view
from misgan.augmentation.sources import SourceCache, SourceError, clean_rows, fold_rows

if TYPE_CHECKING:
    from misgan.augmentation.text_source import TextSource


class SourcedGanAugmenter(GanAugmenter):
    """ "ours" with outside information: trained on the fold's rows plus `extra` source rows (when given),
    conditioned at sampling time on the text source's sentences of the requested class (when given)."""

    def __init__(
        self,
        *args: Any,
        extra: Callable[[], tuple[Any, ...]] | None = None,
        text: TextSource | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.extra, self.text = extra, text
        self.source_rows: dict[str, int] | None = None  # rows of each source the generator was trained on

    def fit(self, view: TrainView, seed: int) -> None:
        if self.extra is None:
            return super().fit(view, seed)
        h, y, t, self.source_rows = self.extra()
        if self.gan_config.use_text and t is None:
            raise SourceError("a source cache has no text features, but the generator conditions on text")
        # without text the generator never reads t; keep the target's width so nothing else changes
        t_all = np.concatenate([view.t, t]) if t is not None else None
        wide = TrainView(np.concatenate([view.h, h]), t_all, np.concatenate([view.y, y]), view.heads,
                         view.n_classes, view.valid)  # type: ignore[arg-type]  # fmt: skip
        super().fit(wide, seed)
        self.view = view  # conditioning text and class checks refer to the target's own training rows

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if self.text is None or not self.generator.use_text:
            return super().sample(labels, seed)
        from misgan.gan import train as gan

        labels = np.asarray(labels, dtype=np.int64)
        _check_view(self.view, labels)
        missing = sorted(set(labels.tolist()) - set(self.text.y.tolist()))
        if missing:
            raise SourceError(f"text source {self.text.path}: no sentence of class(es) {missing}")
        rng = np.random.default_rng(seed)
        t_cond = gan.conditioning_text(self.text.t, self.text.y, labels, "class", rng)
        h_syn = gan.generate(self.generator, labels, t_cond, seed)
        self.last_text = np.asarray(t_cond, dtype=np.float32)
        return np.asarray(h_syn, dtype=np.float32), labels


@dataclass
class Outside:
    """The outside information of one stage-3 run: source caches and/or a text source."""

    sources: list[SourceCache]
    text: TextSource | None
    target_corpus: str
    utt_ids: np.ndarray  # the target cache's utt_id per row (test utterances are never taken from a source)
    align: Any = None  # the target's stage-1 run (set by `bind`)

    def record(self, jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """results.json["outside"]: which sources were used (path, fingerprint, rows), the rows of each that
        the generator of each fold was trained on, and the text source."""
        folds = list(dict.fromkeys(j["fold"] for j in jobs or []))
        return {
            "source_caches": [s.record() for s in self.sources],
            "source_rows_per_fold": {f: self.rows_for(f) for f in folds} if self.sources else {},
            "text_source": self.text.record() if self.text else None,
        }

    def rows_for(self, fold: str) -> dict[str, int]:
        """Rows of each source a fold's generator is trained on (all but the fold's test speakers/utterances)."""
        from misgan.alignment.run import load_fold

        arrays, attrs = load_fold(self.align, fold)
        test_utts = set(self.utt_ids[np.asarray(arrays["test_idx"], np.int64)].tolist())
        test_spk = {str(s) for s in attrs.get("test_speakers", [])}
        return {s.path: len(clean_rows(s, test_spk, test_utts, self.target_corpus)) for s in self.sources}

    def bind(self, align: Any, fold: str, test_idx: np.ndarray) -> Callable[..., SourcedGanAugmenter]:
        """A maker of "ours" for one target fold: (GanAugmenter's arguments, stage1=None) -> SourcedGanAugmenter.
        `stage1`: the standardisation/adapter arrays of a stage 1 refitted in the job (a train fraction below
        1, misgan.augmentation.subsets.refit_stage1); source rows are then mapped into that h, not the align
        run's."""
        self.align = align

        def maker(*args: Any, stage1: dict[str, np.ndarray] | None = None, **kw: Any) -> SourcedGanAugmenter:
            extra = None
            if self.sources:
                from misgan.alignment.run import load_fold

                def extra() -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, int]]:
                    arrays, attrs = load_fold(align, fold)
                    test_utts = set(self.utt_ids[np.asarray(test_idx, np.int64)].tolist())
                    arrays = {**arrays, **(stage1 or {})}
                    return fold_rows(self.sources, arrays, attrs, self.target_corpus, test_utts)

            return SourcedGanAugmenter(*args, extra=extra, text=self.text, **kw)

        return maker
