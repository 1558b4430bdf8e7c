"""Evaluation protocols as fold assignments over a manifest, all speaker-independent.

Protocols:
  loso-speaker  one fold per speaker (test = that speaker)
  loso-session  one fold per session (IEMOCAP's usual 5 folds)
  split         the corpus's predefined partition (train / dev / test column `split`)
  kfold         grouped k-fold over speakers (sklearn GroupKFold, shuffled by the seed)
  file          imported: CSV/TSV `utt_id,fold`, JSON lines {"utt_id"|"key", "fold"}, or an EmoBox
                folder of `*_train_fold_K.jsonl` / `*_test_fold_K.jsonl`

Every fold carries disjoint row indices `train`, `valid` (early stopping; whole training speakers held
out where there are enough of them, by sklearn's GroupShuffleSplit) and `test`. `check_no_leakage`
raises when a speaker would sit on both sides; `make_folds` calls it on every fold it returns.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from misgan.errors import FoldError

PROTOCOLS = ("loso-speaker", "loso-session", "split", "kfold", "file")
_TRAIN_SPLITS = {"train", "training"}
_VALID_SPLITS = {"dev", "development", "validation", "valid", "val"}
_TEST_SPLITS = {"test", "test1", "test2", "test3", "testing"}


@dataclass(frozen=True)
class Fold:
    name: str
    train: np.ndarray  # row positions in the manifest / store
    test: np.ndarray
    valid: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def speakers(self, speakers: np.ndarray | pd.Series, part: str) -> list[str]:
        rows = getattr(self, part)
        return sorted(set(np.asarray(speakers)[rows].tolist()))

    @property
    def train_all(self) -> np.ndarray:
        """Every row of the training speakers (train + valid), sorted."""
        return np.sort(np.concatenate([self.train, self.valid]))


def check_no_leakage(speakers: np.ndarray | pd.Series, fold: Fold) -> None:
    """Raise FoldError if any speaker has rows in both the training side and the test side of `fold`."""
    spk = np.asarray(speakers).astype(str)
    train_side = set(spk[fold.train_all].tolist())
    test_side = set(spk[fold.test].tolist())
    both = sorted((train_side & test_side) - {""})
    if both:
        raise FoldError(
            f"fold {fold.name}: speaker(s) {', '.join(both[:5])} in both train and test (speaker leakage)"
        )
    if len(np.intersect1d(fold.train_all, fold.test)):
        raise FoldError(f"fold {fold.name}: the same rows are in train and test")


def make_folds(
    df: pd.DataFrame,
    protocol: str = "loso-speaker",
    *,
    k: int = 5,
    seed: int = 0,
    valid_fraction: float = 0.1,
    file: str | Path | None = None,
) -> list[Fold]:
    """Fold assignments for manifest `df` under `protocol`; each is checked for speaker leakage."""
    if protocol not in PROTOCOLS:
        raise FoldError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    spk = df["speaker"].astype(str).to_numpy()
    rows = np.arange(len(df))
    folds: list[Fold] = []
    if protocol == "loso-speaker":
        folds = _leave_one_out("spk", spk, spk, valid_fraction, seed)
    elif protocol == "loso-session":
        sess = df["session"].astype(str).to_numpy()
        if (sess == "").any():
            raise FoldError("loso-session: some rows have no session; use loso-speaker or kfold")
        folds = _leave_one_out("ses", sess, spk, valid_fraction, seed)
    elif protocol == "split":
        folds.append(_predefined(df, rows, spk, valid_fraction, seed))
    elif protocol == "kfold":
        folds = _grouped_kfold(rows, spk, k, seed, valid_fraction)
    else:
        if file is None:
            raise FoldError("protocol 'file' needs a fold file (--fold-file)")
        folds = _from_file(df, Path(file), spk, valid_fraction, seed)
    for fold in folds:
        if len(fold.train) == 0 or len(fold.test) == 0:
            raise FoldError(f"fold {fold.name}: empty train or test set")
        check_no_leakage(spk, fold)
    return folds


def select_folds(folds: list[Fold], only: list[str] | None, source: str = "") -> list[Fold]:
    """The folds named in `only` (all when empty); an unknown name is an error naming `source`."""
    if not only:
        return folds
    missing = sorted(set(only) - {f.name for f in folds})
    if missing:
        known = ", ".join(f.name for f in folds[:6]) + (", ..." if len(folds) > 6 else "")
        raise FoldError(f"{source}: no fold(s) {', '.join(missing)} (folds here: {known})")
    return [f for f in folds if f.name in only]


def _ordered_unique(values: np.ndarray) -> list[str]:
    return sorted(set(values.tolist()))


def _with_valid(
    name: str, train: np.ndarray, test: np.ndarray, spk: np.ndarray, fraction: float, seed: int
) -> Fold:
    """Hold out whole training speakers for validation (>= 1 speaker when there are >= 3),
    else a random `fraction` of training rows."""
    if fraction <= 0:
        return Fold(name, np.sort(train), np.sort(test))
    from sklearn.model_selection import GroupShuffleSplit

    state = int(np.random.SeedSequence([seed, _stable_int(name)]).generate_state(1)[0])
    groups = spk[train]
    n_speakers = len(set(groups.tolist()))
    if n_speakers >= 3:
        n_val = max(1, round(fraction * n_speakers))
        split = GroupShuffleSplit(n_splits=1, test_size=n_val, random_state=state)
        keep, held = next(split.split(train, groups=groups))
        return Fold(name, np.sort(train[keep]), np.sort(test), np.sort(train[held]))
    is_val = np.random.default_rng(state).random(len(train)) < fraction
    return Fold(name, np.sort(train[~is_val]), np.sort(test), np.sort(train[is_val]))


def _leave_one_out(prefix: str, groups: np.ndarray, spk: np.ndarray, fraction: float, seed: int) -> list[Fold]:
    """One fold per value of `groups` (speaker or session), in sorted order: sklearn's LeaveOneGroupOut."""
    from sklearn.model_selection import LeaveOneGroupOut

    rows = np.arange(len(groups))
    folds = []
    for train, test in LeaveOneGroupOut().split(rows, groups=groups):
        folds.append(_with_valid(f"{prefix}-{groups[test[0]]}", train, test, spk, fraction, seed))
    return folds


def _stable_int(text: str) -> int:
    # Python's hash() is salted per process; folds must be identical across processes. Hash the whole
    # name: its first 8 bytes alone are shared by e.g. "spk-Ses01F" and "spk-Ses01M"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def _predefined(df: pd.DataFrame, rows: np.ndarray, spk: np.ndarray, fraction: float, seed: int) -> Fold:
    split = df["split"].astype(str).str.strip().str.lower().to_numpy()
    train = rows[np.isin(split, list(_TRAIN_SPLITS))]
    valid = rows[np.isin(split, list(_VALID_SPLITS))]
    test = rows[np.isin(split, list(_TEST_SPLITS))]
    if len(train) == 0 or len(test) == 0:
        raise FoldError(
            "protocol 'split': the manifest has no train and test rows in column 'split' "
            f"(values seen: {', '.join(sorted(set(split.tolist())))})"
        )
    if len(valid) == 0:
        return _with_valid("split", train, test, spk, fraction, seed)
    return Fold("split", train, test, valid)


def _grouped_kfold(rows: np.ndarray, spk: np.ndarray, k: int, seed: int, fraction: float) -> list[Fold]:
    from sklearn.model_selection import GroupKFold

    n_speakers = len(set(spk.tolist()))
    if k < 2 or k > n_speakers:
        raise FoldError(f"kfold: k={k} must be between 2 and the number of speakers ({n_speakers})")
    # GroupKFold balances the folds' row counts (whole speakers per fold); shuffle + seed vary the draw
    split = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(rows, groups=spk)
    return [
        _with_valid(f"kfold-{i + 1}", rows[train], rows[test], spk, fraction, seed)
        for i, (train, test) in enumerate(split)
    ]


def _from_file(df: pd.DataFrame, path: Path, spk: np.ndarray, fraction: float, seed: int) -> list[Fold]:
    """Folds from a file: each row's *test* fold (CSV/TSV/JSONL), or an EmoBox fold folder."""
    if not path.exists():
        raise FoldError(f"{path}: fold file not found")
    index = {u: i for i, u in enumerate(df["utt_id"].astype(str))}
    if path.is_dir():
        return _from_emobox(path, index, spk)
    assignment = _read_assignment(path)
    unknown = [u for u in assignment if u not in index]
    if unknown:
        raise FoldError(f"{path}: {len(unknown)} utt_id(s) not in the manifest, e.g. {unknown[0]}")
    folds = []
    fold_names = sorted(set(assignment.values()), key=_natural_key)
    for name in fold_names:
        test = np.array(sorted(index[u] for u, f in assignment.items() if f == name), dtype=np.int64)
        train = np.array(sorted(index[u] for u, f in assignment.items() if f != name), dtype=np.int64)
        folds.append(_with_valid(str(name), train, test, spk, fraction, seed))
    return folds


def _read_assignment(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.suffix in (".jsonl", ".json"):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                utt = rec.get("utt_id", rec.get("key"))
                fold = rec["fold"]
            except (json.JSONDecodeError, KeyError, AttributeError) as exc:
                raise FoldError(f"{path}:{n}: expected {{'utt_id': ..., 'fold': ...}} ({exc})") from exc
            out[str(utt)] = str(fold)
        return out
    sep = "\t" if path.suffix == ".tsv" else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FoldError(f"{path}: not a readable CSV/TSV fold table ({exc})") from exc
    if not {"utt_id", "fold"} <= set(table.columns):
        raise FoldError(f"{path}: needs columns utt_id and fold (found {', '.join(table.columns)})")
    return dict(zip(table["utt_id"], table["fold"], strict=True))


def _from_emobox(folder: Path, index: dict[str, int], spk: np.ndarray) -> list[Fold]:
    """EmoBox layout: fold_K/<corpus>_{train,valid,test}_fold_K.jsonl with a "key" per line."""
    tests = sorted(folder.rglob("*_test_fold_*.jsonl"), key=lambda p: _natural_key(p.stem))
    if not tests:
        raise FoldError(f"{folder}: no *_test_fold_*.jsonl files (EmoBox layout)")
    folds = []
    for test_file in tests:
        k = test_file.stem.rsplit("_", 1)[-1]
        parts = {}
        for part in ("train", "valid", "test"):
            f = test_file.with_name(test_file.name.replace("_test_fold_", f"_{part}_fold_"))
            parts[part] = _emobox_rows(f, index) if f.exists() else np.zeros(0, dtype=np.int64)
        folds.append(Fold(f"fold-{k}", parts["train"], parts["test"], parts["valid"]))
    return folds


def _emobox_rows(path: Path, index: dict[str, int]) -> np.ndarray:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            key = str(json.loads(line)["key"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise FoldError(f"{path}:{n}: expected a JSON object with a 'key' ({exc})") from exc
        if key not in index:
            raise FoldError(f"{path}:{n}: key {key} not in the manifest")
        rows.append(index[key])
    return np.array(sorted(rows), dtype=np.int64)


def _natural_key(text: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(text))]
