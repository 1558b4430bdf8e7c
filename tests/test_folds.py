"""Protocols on fixture manifests: exact fold counts, no speaker on both sides, fold files imported."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from corpus_fixtures import make_iemocap, make_msp_podcast

from misgan.data.corpora import load_corpus
from misgan.data.folds import Fold, check_no_leakage, make_folds
from misgan.errors import FoldError


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory) -> pd.DataFrame:
    exp = make_iemocap(tmp_path_factory.mktemp("iemo"))
    return load_corpus("iemocap", exp["root"])


@pytest.fixture(scope="module")
def podcast(tmp_path_factory) -> pd.DataFrame:
    exp = make_msp_podcast(tmp_path_factory.mktemp("pod"))
    return load_corpus("msp-podcast", exp["root"])


def _assert_partition(df: pd.DataFrame, fold: Fold) -> None:
    parts = [set(fold.train.tolist()), set(fold.valid.tolist()), set(fold.test.tolist())]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    spk = df["speaker"].to_numpy()
    assert not set(spk[fold.train_all]) & set(spk[fold.test])


def test_loso_speaker(iemocap):
    folds = make_folds(iemocap, "loso-speaker")
    assert len(folds) == 10
    sizes = {f.name: len(f.test) for f in folds}
    assert sizes == {f"spk-{s}": n for s, n in iemocap["speaker"].value_counts().items()}
    assert sizes["spk-Ses03F"] == 4
    for f in folds:
        _assert_partition(iemocap, f)
        assert len(f.train) + len(f.valid) + len(f.test) == len(iemocap)
        # 9 training speakers -> one whole speaker held out for validation
        assert len(f.speakers(iemocap["speaker"], "valid")) == 1


def test_loso_session(iemocap):
    folds = make_folds(iemocap, "loso-session")
    assert [f.name for f in folds] == [f"ses-Ses0{i}" for i in range(1, 6)]
    assert [len(f.test) for f in folds] == [5, 5, 7, 5, 7]
    for f in folds:
        _assert_partition(iemocap, f)
        assert f.speakers(iemocap["speaker"], "test") == [f.name[4:] + "F", f.name[4:] + "M"]
    no_session = iemocap.assign(session="")
    with pytest.raises(FoldError, match="no session"):
        make_folds(no_session, "loso-session")


def test_split_protocol_on_podcast(podcast):
    (fold,) = make_folds(podcast, "split")
    assert (len(fold.train), len(fold.valid), len(fold.test)) == (4, 2, 4)
    assert set(podcast["split"].to_numpy()[fold.test]) == {"test1", "test2"}
    # Unknown turns are distinct speakers: loso-speaker gives each its own fold
    assert len(make_folds(podcast, "loso-speaker")) == 6


def test_kfold(iemocap):
    from sklearn.model_selection import GroupKFold

    folds = make_folds(iemocap, "kfold", k=5, seed=3)
    assert len(folds) == 5
    spk = iemocap["speaker"].to_numpy()
    reference = GroupKFold(5, shuffle=True, random_state=3).split(np.arange(len(spk)), groups=spk)
    assert [f.test.tolist() for f in folds] == [sorted(test.tolist()) for _, test in reference]
    assert sum(len(f.speakers(spk, "test")) for f in folds) == len(set(spk))  # each speaker tested once
    assert sorted(np.concatenate([f.test for f in folds]).tolist()) == list(range(len(iemocap)))
    again = make_folds(iemocap, "kfold", k=5, seed=3)
    assert all(
        np.array_equal(a.test, b.test) and np.array_equal(a.valid, b.valid)
        for a, b in zip(folds, again, strict=True)
    )
    with pytest.raises(FoldError, match="k=11"):
        make_folds(iemocap, "kfold", k=11)


def test_leakage_raises_when_speaker_on_both_sides(iemocap):
    spk = iemocap["speaker"].to_numpy()
    test = np.flatnonzero(spk == "Ses01F")
    train = np.flatnonzero(spk != "Ses01F")
    check_no_leakage(spk, Fold("ok", train, test))
    planted = np.append(train, test[0])  # one Ses01F utterance planted in training
    with pytest.raises(FoldError, match="Ses01F"):
        check_no_leakage(spk, Fold("bad", planted, test[1:]))
    with pytest.raises(FoldError, match="Ses01F"):
        check_no_leakage(spk, Fold("bad-valid", train, test[1:], valid=test[:1]))


def test_fold_file_csv_and_jsonl(iemocap, tmp_path):
    fold_of = {"Ses01": "a", "Ses02": "a", "Ses03": "b", "Ses04": "b", "Ses05": "c"}
    table = pd.DataFrame({"utt_id": iemocap["utt_id"], "fold": iemocap["session"].map(fold_of)})
    table.to_csv(tmp_path / "folds.csv", index=False)
    folds = make_folds(iemocap, "file", file=tmp_path / "folds.csv")
    assert [(f.name, len(f.test)) for f in folds] == [("a", 10), ("b", 12), ("c", 7)]
    with open(tmp_path / "folds.jsonl", "w") as fh:
        for u, f in zip(table["utt_id"], table["fold"], strict=True):
            fh.write(json.dumps({"key": u, "fold": f}) + "\n")
    folds_j = make_folds(iemocap, "file", file=tmp_path / "folds.jsonl")
    assert [f.name for f in folds_j] == ["a", "b", "c"]
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, folds_j, strict=True))
    # a file that splits one speaker across folds is refused
    leaky = table.copy()
    leaky.loc[leaky["utt_id"] == "Ses05F_impro01_F000", "fold"] = "a"
    leaky.to_csv(tmp_path / "leaky.csv", index=False)
    with pytest.raises(FoldError, match="Ses05F"):
        make_folds(iemocap, "file", file=tmp_path / "leaky.csv")
    (tmp_path / "bad.jsonl").write_text('{"utt_id": "x"}\n')
    with pytest.raises(FoldError, match=r"bad.jsonl:1"):
        make_folds(iemocap, "file", file=tmp_path / "bad.jsonl")


def test_fold_file_emobox_folder(iemocap, tmp_path):
    sess = iemocap["session"].to_numpy()
    for k in range(1, 6):
        d = tmp_path / "emobox" / f"fold_{k}"
        d.mkdir(parents=True)
        test_s = f"Ses0{k}"
        for part, mask in (("train", sess != test_s), ("test", sess == test_s)):
            with open(d / f"iemocap_{part}_fold_{k}.jsonl", "w") as fh:
                for u in iemocap["utt_id"][mask]:
                    fh.write(json.dumps({"key": u, "emo": "x"}) + "\n")
    folds = make_folds(iemocap, "file", file=tmp_path / "emobox")
    assert [f.name for f in folds] == [f"fold-{k}" for k in range(1, 6)]
    assert [len(f.test) for f in folds] == [5, 5, 7, 5, 7]
    assert [len(f.train) for f in folds] == [24, 24, 22, 24, 22]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FoldError, match="no \\*_test_fold_"):
        make_folds(iemocap, "file", file=tmp_path / "empty")


def test_unknown_protocol_and_missing_file(iemocap, tmp_path):
    with pytest.raises(FoldError, match="unknown protocol"):
        make_folds(iemocap, "random")
    with pytest.raises(FoldError, match="not found"):
        make_folds(iemocap, "file", file=tmp_path / "none.csv")


def test_validation_seed_uses_whole_fold_name(tmp_path, iemocap):
    from misgan.data.folds import _stable_int

    # names sharing their first 8 bytes must still seed different validation draws
    assert _stable_int("spk-Ses01F") != _stable_int("spk-Ses01M")
    (tmp_path / "bad.csv").write_bytes(b'utt_id,fold\n"unclosed,1\n')
    with pytest.raises(FoldError, match=r"bad\.csv"):
        make_folds(iemocap, "file", file=tmp_path / "bad.csv")


def test_loso_is_leave_one_group_out_and_valid_holds_whole_speakers(iemocap):
    from sklearn.model_selection import LeaveOneGroupOut

    spk = iemocap["speaker"].to_numpy()
    folds = make_folds(iemocap, "loso-speaker")
    reference = list(LeaveOneGroupOut().split(np.arange(len(spk)), groups=spk))
    assert [f.test.tolist() for f in folds] == [test.tolist() for _, test in reference]
    for fold in folds:
        valid_speakers = set(fold.speakers(spk, "valid"))
        assert valid_speakers and not valid_speakers & set(fold.speakers(spk, "train"))


def test_select_folds_keeps_named_and_rejects_unknown():
    from misgan.data.folds import Fold, select_folds
    from misgan.errors import FoldError

    folds = [Fold(f"spk-{i}", np.array([0]), np.array([1])) for i in range(3)]
    assert select_folds(folds, None) == folds
    assert [f.name for f in select_folds(folds, ["spk-2", "spk-0"])] == ["spk-0", "spk-2"]
    with pytest.raises(FoldError, match=r"cache\.zarr: no fold\(s\) spk-9"):
        select_folds(folds, ["spk-9"], "cache.zarr")
