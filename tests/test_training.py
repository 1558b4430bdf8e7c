"""The shared training loop (misgan.training): fit and its callbacks (misgan.callbacks), on hand-made step
functions."""

from __future__ import annotations

import io
import math

import pytest
import torch

from misgan.callbacks import BestState, EarlyStopping, JsonlLogger, Progress, StopOnNonFinite
from misgan.runtime import JsonlLog
from misgan.training import Callback, fit


def scripted(values, key="val_loss", module=None):
    """A step function that reports values[epoch - 1] and, given a module, sets its weight to the epoch."""

    def step(epoch):
        if module is not None:
            with torch.no_grad():
                module.weight.fill_(float(epoch))
        return {"epoch": epoch, key: values[epoch - 1]}

    return step


class Seen(Callback):
    def __init__(self):
        self.epochs, self.started, self.ended = [], None, None

    def on_start(self, epochs):
        self.started = epochs

    def on_epoch_end(self, epoch, record):
        self.epochs.append(epoch)

    def on_end(self, result):
        self.ended = result


def test_fit_runs_every_epoch_without_stoppers():
    seen = Seen()
    result = fit(scripted([3.0, 2.0, 1.0]), epochs=3, callbacks=[seen])
    assert [r["val_loss"] for r in result.history] == [3.0, 2.0, 1.0]
    assert result.stopped == "" and result.epochs == 3
    assert seen.started == 3 and seen.epochs == [1, 2, 3] and seen.ended is result


def test_early_stopping_counts_epochs_without_improvement():
    losses = [5.0, 4.0, 4.5, 4.2, 3.0, 3.5, 3.2, 3.1, 9.0]
    stop = EarlyStopping("val_loss", "min", patience=3)
    result = fit(scripted(losses), epochs=len(losses), callbacks=[stop])
    # best 3.0 at epoch 5; epochs 6, 7, 8 do not beat it: stop after epoch 8
    assert result.epochs == 8 and stop.best_epoch == 5
    assert result.stopped == "early stop at epoch 8: no better val_loss for 3 epochs"
    # min_delta: 4.2 does not beat 4.0 by more than 0.5, and neither does 4.5
    stop = EarlyStopping("val_loss", "min", patience=2, min_delta=0.5)
    assert fit(scripted(losses), epochs=len(losses), callbacks=[stop]).epochs == 4


def test_early_stopping_skips_epochs_before_min_epochs_and_max_mode():
    scores = [0.9, 0.1, 0.2, 0.3, 0.25, 0.2]
    stop = EarlyStopping("uar", "max", patience=2, min_epochs=2)
    result = fit(scripted(scores, "uar"), epochs=6, callbacks=[stop])
    # epoch 1 (0.9) is not judged, so the best is 0.3 at epoch 4 and epochs 5, 6 exhaust the patience
    assert stop.best_epoch == 4 and result.epochs == 6 and result.stopped.startswith("early stop at epoch 6")
    never = EarlyStopping("uar", "max", patience=None)
    assert fit(scripted(scores, "uar"), epochs=6, callbacks=[never]).stopped == ""


def test_tuple_scores_compare_lexicographically():
    records = [(0.5, -2.0), (0.5, -1.0), (0.4, 0.0), (0.5, -1.5)]
    stop = EarlyStopping(lambda r: r["s"], "max", patience=5)
    fit(scripted(records, "s"), epochs=4, callbacks=[stop])
    assert stop.best_epoch == 2  # equal first items: the second decides; (0.4, 0) loses on the first


def test_best_state_restores_the_best_epochs_weights():
    lin = torch.nn.Linear(2, 1)
    best = BestState(lin, "val_loss", "min")
    losses = [3.0, 1.0, 2.0, 5.0]
    result = fit(scripted(losses, module=lin), epochs=4, callbacks=[best])
    assert best.best_epoch == 2 and best.best_record == {"epoch": 2, "val_loss": 1.0}
    assert torch.all(lin.weight == 2.0) and result.epochs == 4


def test_best_state_with_initial_keeps_the_start_when_never_beaten():
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.fill_(-7.0)
    best = BestState(lin, "val_loss", "min", initial=0.5)
    fit(scripted([1.0, 2.0, float("nan")], module=lin), epochs=3, callbacks=[best])
    assert best.best_epoch == 0 and torch.all(lin.weight == -7.0)


def test_best_state_trainable_only_leaves_frozen_weights_alone():
    model = torch.nn.ModuleDict({"enc": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 1)})
    model["enc"].weight.requires_grad_(False)
    best = BestState(model, "val_loss", "min", trainable_only=True)

    def step(epoch):
        with torch.no_grad():
            model["enc"].weight.fill_(float(epoch))
            model["head"].weight.fill_(float(epoch))
        return {"epoch": epoch, "val_loss": [1.0, 2.0, 3.0][epoch - 1]}

    fit(step, epochs=3, callbacks=[best])
    assert "enc.weight" not in best.state[""] and "enc.bias" in best.state[""]
    assert torch.all(model["head"].weight == 1.0) and torch.all(model["enc"].weight == 3.0)


def test_a_judge_object_decides_and_early_stopping_follows_best_state():
    class EveryOther:
        def offer(self, record):
            return record["epoch"] in (1, 3)

    lin = torch.nn.Linear(1, 1)
    best = BestState(lin, EveryOther())
    stop = EarlyStopping(best, patience=2, name="judge")
    result = fit(scripted([0.0] * 10, module=lin), epochs=10, callbacks=[best, stop])
    assert best.best_epoch == 3 and torch.all(lin.weight == 3.0)
    assert result.stopped == "early stop at epoch 5: no better judge for 2 epochs"
    with pytest.raises(RuntimeError, match="put it first"):
        best2 = BestState(lin, "val_loss")
        fit(scripted([1.0]), epochs=1, callbacks=[EarlyStopping(best2, patience=1), best2])


def test_non_finite_stop_and_callback_order(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    after = Seen()
    lin = torch.nn.Linear(1, 1)
    stop = StopOnNonFinite(["loss"], [lin], "a loss or a weight is NaN/inf")
    logger = JsonlLogger(log, fold="f1")
    result = fit(scripted([1.0, math.inf, 0.5], "loss"), epochs=3, callbacks=[logger, stop, after])
    assert result.stopped == "diverged at epoch 2: a loss or a weight is NaN/inf"
    # the logger placed first records the epoch that stopped the run; the callback after the stop never sees it
    assert [(r["fold"], r["epoch"]) for r in log.read()] == [("f1", 1), ("f1", 2)]
    assert log.read()[0] == {"fold": "f1", "epoch": 1, "loss": 1.0}
    assert after.epochs == [1]
    with torch.no_grad():
        lin.weight.fill_(float("nan"))
    assert fit(scripted([1.0], "loss"), epochs=1, callbacks=[stop]).stopped.startswith("diverged at epoch 1")
    assert fit(scripted([1.0]), epochs=1, callbacks=[JsonlLogger(None)]).epochs == 1  # no log: nothing written


def test_progress_off_a_terminal_prints_at_most_one_plain_line():
    quiet, explicit, off = io.StringIO(), io.StringIO(), io.StringIO()
    fit(scripted([1.0, 2.0]), epochs=2, callbacks=[Progress("align f", None, stream=quiet)])
    fit(scripted([1.0, 2.0]), epochs=2, callbacks=[Progress("align f", False, stream=off)])
    stop = EarlyStopping("val_loss", patience=1)
    fit(scripted([1.0, 2.0, 3.0]), epochs=3, callbacks=[Progress("align f", True, stream=explicit), stop])
    assert quiet.getvalue() == "" and off.getvalue() == ""
    text = explicit.getvalue()
    assert "\r" not in text and text.count("\n") == 1
    assert text.startswith("align f: 2/3 epochs in ") and "(early stop at epoch 2" in text


def test_a_failing_step_skips_the_restore_and_reaches_on_end():
    lin = torch.nn.Linear(1, 1)
    best, seen = BestState(lin, "val_loss"), Seen()

    def step(epoch):
        if epoch == 2:
            raise ValueError("boom")
        return scripted([1.0], module=lin)(epoch)

    with pytest.raises(ValueError, match="boom"):
        fit(step, epochs=3, callbacks=[best, seen])
    assert isinstance(seen.ended.error, ValueError) and seen.ended.epochs == 1
