"""The one training loop of misgan: stage 1, fine-tuning, the GAN and the stage-3 classifier all use `fit`.

Each trainer keeps its own *step function*, `step(epoch) -> record`, which trains one epoch and returns that
epoch's numbers (losses, validation scores). Everything around it is a callback, written once in
misgan.callbacks:

- `BestState(modules, monitor, mode)`: copies the weights of the best epoch and restores them at the end;
- `EarlyStopping(monitor, mode, patience)`: stops when `patience` judged epochs bring no better score
  (`monitor` may also be a `BestState`, to stop on the same notion of "better");
- `StopOnNonFinite(keys, modules)`: stops when a loss or a weight is NaN/inf;
- `Progress(desc, enabled)`: a tqdm bar on a terminal; elsewhere at most one plain line at the end;
- `JsonlLogger(log, **fields)`: one JSON-lines record per epoch (`misgan.runtime.JsonlLog` or any `.write`).

    best = BestState(model, "val_loss", "min")
    result = fit(step, epochs=100, callbacks=[JsonlLogger(log), best, EarlyStopping(best, patience=10)])

Callbacks run in the order given; the first one that returns a reason stops training, and the ones after
it do not see that epoch (so a logger placed first records the epoch that stopped the run).
A "monitor" is a record key, a function of the record returning a comparable score (a tuple compares
lexicographically), or a judge: any object with `offer(record) -> bool` (True: this epoch is the new best).
Neither torch nor tqdm is imported here at module level.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]
Monitor = Any  # a record key | Callable[[Record], score] | an object with offer(record) -> bool


@dataclass
class FitResult:
    history: list[Record] = field(default_factory=list)  # one record per epoch run
    stopped: str = ""  # why training ended before `epochs` ("" when it ran them all)
    error: BaseException | None = None  # set while callbacks' on_end run after the step raised

    @property
    def epochs(self) -> int:
        return len(self.history)


class Callback:
    """Hooks of `fit`; every hook is optional."""

    def on_start(self, epochs: int) -> None:
        pass

    def on_epoch_end(self, epoch: int, record: Record) -> str | None:
        """Return a reason (non-empty) to stop after this epoch."""
        return None

    def on_end(self, result: FitResult) -> None:
        pass


def fit(step: Callable[[int], Record], *, epochs: int, callbacks: Sequence[Callback] = ()) -> FitResult:
    """Run `step(1) .. step(epochs)` with `callbacks`; see the module docstring."""
    result = FitResult()
    for cb in callbacks:
        cb.on_start(epochs)
    try:
        for epoch in range(1, epochs + 1):
            record = step(epoch)
            result.history.append(record)
            for cb in callbacks:
                reason = cb.on_epoch_end(epoch, record)
                if reason:
                    result.stopped = reason
                    break
            if result.stopped:
                break
    except BaseException as exc:
        result.error = exc
        raise
    finally:
        for cb in callbacks:
            cb.on_end(result)
    return result
