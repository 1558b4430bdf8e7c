"""The callbacks of `misgan.training.fit`: which epoch is the best (`Best`, `BestState`, `EarlyStopping`),
stopping on NaN/inf (`StopOnNonFinite`), progress (`Progress`) and per-epoch logging (`JsonlLogger`).
What a monitor is, and the order callbacks run in: misgan.training. Neither torch nor tqdm is imported here
at module level.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from misgan.training import Callback, FitResult, Monitor, Record

# ---------------------------------------------------------------- which epoch is the best


class Best:
    """The best epoch so far by `monitor` in `mode` ("min" | "max"); an improvement must beat the best by
    more than `min_delta`. `initial` is the score to beat before the first epoch (default: none), and
    epochs before `min_epochs` are not judged at all. After `update`: `improved`, `stale` (judged epochs
    since the last improvement), `best_epoch` (0: none yet, or the initial state), `best_record`."""

    def __init__(
        self,
        monitor: Monitor,
        mode: str = "min",
        *,
        min_delta: float = 0.0,
        initial: Any = None,
        min_epochs: int = 0,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max' (got {mode!r})")
        self.monitor, self.mode, self.min_delta, self.min_epochs = monitor, mode, min_delta, min_epochs
        self.best_score = initial
        self.best_epoch, self.stale, self.epoch = 0, 0, 0
        self.improved = self.judged = False
        self.best_record: Record | None = None

    @property
    def name(self) -> str:
        return self.monitor if isinstance(self.monitor, str) else getattr(self.monitor, "name", "score")

    def _better(self, record: Record) -> bool:
        if hasattr(self.monitor, "offer"):
            return bool(self.monitor.offer(record))
        score = record[self.monitor] if isinstance(self.monitor, str) else self.monitor(record)
        if self.best_score is None:
            take = not (isinstance(score, float) and math.isnan(score))
        elif self.mode == "max":
            take = score > (self.best_score + self.min_delta if self.min_delta else self.best_score)
        else:
            take = score < (self.best_score - self.min_delta if self.min_delta else self.best_score)
        if take:
            self.best_score = score
        return take

    def update(self, epoch: int, record: Record) -> bool:
        self.epoch, self.improved = epoch, False
        self.judged = epoch >= self.min_epochs
        if not self.judged:
            return False
        self.improved = self._better(record)
        if self.improved:
            self.best_epoch, self.best_record, self.stale = epoch, record, 0
        else:
            self.stale += 1
        return self.improved


class BestState(Callback):
    """Keeps a copy of the weights of the best epoch (see `Best` for the arguments) and loads it back at
    the end of a run that did not raise. `modules`: one torch module or a mapping of them.
    `trainable_only`: skip parameters with requires_grad False (a frozen encoder needs no copy; the copy
    is then loaded with strict=False). `initial` set: the weights before training are kept as epoch 0
    with that score, so a run that never beats it ends with its starting weights."""

    def __init__(
        self,
        modules: Any,
        monitor: Monitor,
        mode: str = "min",
        *,
        min_delta: float = 0.0,
        initial: Any = None,
        min_epochs: int = 0,
        trainable_only: bool = False,
    ) -> None:
        self.modules = dict(modules) if isinstance(modules, Mapping) else {"": modules}
        self.best = Best(monitor, mode, min_delta=min_delta, initial=initial, min_epochs=min_epochs)
        self.trainable_only = trainable_only
        self.state: dict[str, dict[str, Any]] | None = None
        if initial is not None:
            self.state = self._copy()

    @property
    def best_epoch(self) -> int:
        return self.best.best_epoch

    @property
    def best_record(self) -> Record | None:
        return self.best.best_record

    def _copy(self) -> dict[str, dict[str, Any]]:
        out = {}
        for name, module in self.modules.items():
            frozen = {k for k, p in module.named_parameters() if self.trainable_only and not p.requires_grad}
            out[name] = {k: v.detach().clone() for k, v in module.state_dict().items() if k not in frozen}
        return out

    def on_epoch_end(self, epoch: int, record: Record) -> str | None:
        if self.best.update(epoch, record):
            self.state = self._copy()
        return None

    def restore(self) -> None:
        if self.state is not None:
            for name, module in self.modules.items():
                module.load_state_dict(self.state[name], strict=not self.trainable_only)

    def on_end(self, result: FitResult) -> None:
        if result.error is None:
            self.restore()


class EarlyStopping(Callback):
    """Stops when `patience` judged epochs in a row bring no better `monitor` (None: never stops, only
    tracks). `monitor` may be a `BestState` placed before this callback: it then follows that callback's
    decisions instead of judging the records a second time. `name` names the score in the stop reason."""

    def __init__(
        self,
        monitor: Monitor | BestState,
        mode: str = "min",
        *,
        patience: int | None,
        min_epochs: int = 0,
        min_delta: float = 0.0,
        initial: Any = None,
        name: str | None = None,
    ) -> None:
        self.follows = isinstance(monitor, BestState)
        self.best = (
            monitor.best
            if isinstance(monitor, BestState)
            else Best(monitor, mode, min_delta=min_delta, initial=initial, min_epochs=min_epochs)
        )
        self.patience, self.name = patience, name or self.best.name

    @property
    def best_epoch(self) -> int:
        return self.best.best_epoch

    def on_epoch_end(self, epoch: int, record: Record) -> str | None:
        if not self.follows:
            self.best.update(epoch, record)
        elif self.best.epoch != epoch:
            raise RuntimeError("EarlyStopping follows a BestState that has not seen this epoch: put it first")
        if self.patience is None or not self.best.judged or self.best.improved or self.best.stale < self.patience:
            return None
        return f"early stop at epoch {epoch}: no better {self.name} for {self.best.stale} epochs"


# ---------------------------------------------------------------- stopping, progress, logging


class StopOnNonFinite(Callback):
    """Stops when one of `keys` in the record, or a parameter of `modules`, is NaN/inf."""

    def __init__(
        self, keys: Iterable[str], modules: Iterable[Any] = (), reason: str = "a loss is NaN/inf"
    ) -> None:
        self.keys, self.modules, self.reason = tuple(keys), tuple(modules), reason

    def on_epoch_end(self, epoch: int, record: Record) -> str | None:
        finite = all(math.isfinite(record[k]) for k in self.keys if k in record)
        finite = finite and all(bool(p.isfinite().all()) for m in self.modules for p in m.parameters())
        return None if finite else f"diverged at epoch {epoch}: {self.reason}"


def numeric_postfix(record: Record) -> dict[str, float]:
    """The default progress-bar postfix: every numeric field but the epoch, rounded."""
    return {k: round(v, 3) for k, v in record.items() if isinstance(v, (int, float)) and k != "epoch"}


class Progress(Callback):
    """A tqdm bar when `enabled` is True or None and stderr is a terminal. Off a terminal nothing is drawn
    (no carriage-return junk in logs); with `enabled=True` one plain line is printed at the end instead."""

    def __init__(
        self,
        desc: str,
        enabled: bool | None = None,
        *,
        postfix: Callable[[Record], Mapping[str, Any]] | None = numeric_postfix,
        leave: bool = True,
        stream: Any = None,
    ) -> None:
        self.desc, self.enabled, self.postfix, self.leave = desc, enabled, postfix, leave
        self.stream = stream
        self.bar: Any = None
        self.total, self.t0 = 0, 0.0

    def _tty(self) -> bool:
        stream = self.stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def on_start(self, epochs: int) -> None:
        self.total, self.t0 = epochs, time.perf_counter()
        if self.enabled is not False and self._tty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=epochs, desc=self.desc, leave=self.leave, file=self.stream)

    def on_epoch_end(self, epoch: int, record: Record) -> str | None:
        if self.bar is not None:
            self.bar.update(1)
            if self.postfix is not None:
                self.bar.set_postfix(self.postfix(record))
        return None

    def on_end(self, result: FitResult) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and result.error is None:
            why = f" ({result.stopped})" if result.stopped else ""
            secs = time.perf_counter() - self.t0
            line = f"{self.desc}: {result.epochs}/{self.total} epochs in {secs:.1f}s{why}"
            print(line, file=self.stream or sys.stderr)


class JsonlLogger(Callback):
    """Writes each epoch's record, after `fields` (e.g. fold=...), to `log` (anything with `.write(dict)`;
    None: nothing is written)."""

    def __init__(self, log: Any, **fields: Any) -> None:
        self.log, self.fields = log, fields

    def on_epoch_end(self, epoch: int, record: Record) -> str | None:
        if self.log is not None:
            self.log.write({**self.fields, **record})
        return None
