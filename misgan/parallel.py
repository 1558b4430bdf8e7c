"""Fold-parallel execution on existing engines: joblib (loky) processes on one machine, torchrun ranks on a
cluster. Folds are independent (each trains on its own rows with its own seed), so running them in any order
or place gives the same numbers as the serial loop; results always come back in the items' order.

    results = map_folds(train_one, folds, jobs=4, on_result=write_fold)

Under torchrun (WORLD_SIZE > 1), rank r takes items r, r + world, ..., and rank 0 gathers every result (the
other ranks get None for the items they did not run), as `misgan extract` shards its chunks.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def dist() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; (0, 1) outside it."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """Whether this process is rank 0 (always, outside torchrun): the one that concludes a run."""
    return dist()[0] == 0


def init_dist() -> None:
    """Join torchrun's process group (gloo: gathering results is CPU work, whatever device trains)."""
    if dist()[1] <= 1:
        return
    import torch.distributed as tdist

    if not tdist.is_initialized():
        tdist.init_process_group("gloo", timeout=datetime.timedelta(hours=2))
        # a group left open at interpreter exit aborts the process in gloo's threads ("terminate called
        # without an active exception"): close it first
        import atexit

        atexit.register(_close_group)


def _close_group() -> None:
    import torch.distributed as tdist

    if tdist.is_initialized():
        tdist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (a no-op outside torchrun)."""
    if dist()[1] > 1:
        import torch.distributed as tdist

        init_dist()
        tdist.barrier()


def share(obj: T) -> T:
    """Rank 0's `obj` on every rank (e.g. the run folder rank 0 created); `obj` itself outside torchrun."""
    if dist()[1] <= 1:
        return obj
    import torch.distributed as tdist

    init_dist()
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def map_folds(
    fn: Callable[[T], R],
    items: Iterable[T],
    jobs: int = 1,
    *,
    threads_per_job: int = 1,
    on_result: Callable[[T, R], Any] | None = None,
) -> list[R | None]:
    """`[fn(item) for item in items]`, with `jobs` local processes (joblib loky; 1 = serial, in this process)
    and, under torchrun, split across ranks. `on_result(item, result)` runs in the calling process as each
    result arrives (the place for a fold's atomic write, so a killed run keeps its finished folds). Each
    worker runs with `threads_per_job` torch/BLAS threads. `fn` must be picklable by cloudpickle when
    jobs > 1 (closures are; open files and stores are not)."""
    items = list(items)
    rank, world = dist()
    mine = list(range(rank, len(items), world))
    local = _run_local(fn, [items[i] for i in mine], jobs, threads_per_job, on_result)
    if world <= 1:
        return local
    import torch.distributed as tdist

    init_dist()
    gathered: list[Any] | None = [None] * world if rank == 0 else None
    tdist.gather_object(list(zip(mine, local, strict=True)), gathered, dst=0)
    out: list[R | None] = [None] * len(items)
    for part in gathered or [list(zip(mine, local, strict=True))]:
        for i, result in part:
            out[i] = result
    return out


def _run_local(
    fn: Callable[[T], R],
    items: list[T],
    jobs: int,
    threads: int,
    on_result: Callable[[T, R], Any] | None,
) -> list[R]:
    if jobs <= 1 or len(items) <= 1:
        results = []
        for item in items:
            results.append(fn(item))
            if on_result is not None:
                on_result(item, results[-1])
        return results
    from joblib import Parallel, delayed, parallel_config

    out: dict[int, R] = {}
    # loky caps BLAS/OpenMP threads in its workers with inner_max_num_threads; _in_worker sets torch's
    with parallel_config(backend="loky", inner_max_num_threads=threads):
        cwd = os.getcwd()  # loky reuses workers started elsewhere: relative paths must mean the same here
        tasks = (delayed(_in_worker)(fn, i, item, threads, cwd) for i, item in enumerate(items))
        for i, result in Parallel(n_jobs=min(jobs, len(items)), return_as="generator_unordered")(tasks):
            out[i] = result
            if on_result is not None:
                on_result(items[i], result)
    return [out[i] for i in range(len(items))]


def _in_worker(fn: Callable[[T], R], i: int, item: T, threads: int, cwd: str) -> tuple[int, R]:
    from misgan.runtime import apply_threads

    os.chdir(cwd)
    apply_threads(threads)
    return i, fn(item)
