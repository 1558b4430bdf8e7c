"""Corpus readers on synthetic corpora in each exact layout; counts are checked against hand-written figures."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from corpus_fixtures import make_csv, make_iemocap, make_msp_improv, make_msp_podcast, make_ravdess

from misgan.data.corpora import CORPORA, load_corpus, read_corpus
from misgan.data.manifest import COLUMNS, read_manifest, write_manifest
from misgan.errors import CorpusError

RAVDESS_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-4class-16k"


def counts(df: pd.DataFrame, col: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in df[col].value_counts().items()}


def error_locations(problems) -> set[tuple[str, int | None]]:
    return {(str(Path(p.file).resolve()), p.line) for p in problems if p.severity == "error"}


def planted_locations(exp: dict) -> set[tuple[str, int | None]]:
    # audio defects are doctor's to find; the reader sees only the label-file ones (with a line)
    return {(str(Path(f).resolve()), line) for f, line in exp["planted"] if line is not None}


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("corpora")
    return {
        "iemocap": make_iemocap(base / "iemocap"),
        "iemocap-nested": make_iemocap(base / "iemocap-nested", nested=True),
        "iemocap-broken": make_iemocap(base / "iemocap-broken", broken=True),
        "msp-improv": make_msp_improv(base / "improv"),
        "msp-improv-evalution": make_msp_improv(base / "improv2", spelling="Evalution.txt"),
        "msp-improv-broken": make_msp_improv(base / "improv3", broken=True),
        "msp-podcast": make_msp_podcast(base / "podcast"),
        "msp-podcast-1.9": make_msp_podcast(base / "podcast19", version="1.9"),
        "msp-podcast-1.6": make_msp_podcast(base / "podcast16", version="1.6"),
        "msp-podcast-broken": make_msp_podcast(base / "podcast-broken", broken=True),
        "ravdess": make_ravdess(base / "ravdess"),
        "ravdess-nested": make_ravdess(base / "ravdess-nested", nested=True),
        "ravdess-broken": make_ravdess(base / "ravdess-broken", broken=True),
        "csv": make_csv(base / "csv"),
        "csv-broken": make_csv(base / "csv-broken", broken=True),
    }


def test_registry_names():
    assert set(CORPORA) == {"iemocap", "msp-improv", "msp-podcast", "ravdess", "csv"}
    with pytest.raises(CorpusError, match="unknown corpus"):
        load_corpus("timit", ".")


@pytest.mark.parametrize(
    "key,corpus",
    [
        ("iemocap", "iemocap"),
        ("iemocap-nested", "iemocap"),
        ("iemocap-broken", "iemocap"),
        ("msp-improv", "msp-improv"),
        ("msp-improv-evalution", "msp-improv"),
        ("msp-improv-broken", "msp-improv"),
        ("msp-podcast", "msp-podcast"),
        ("msp-podcast-1.9", "msp-podcast"),
        ("msp-podcast-1.6", "msp-podcast"),
        ("msp-podcast-broken", "msp-podcast"),
        ("ravdess", "ravdess"),
        ("ravdess-nested", "ravdess"),
        ("ravdess-broken", "ravdess"),
        ("csv", "csv"),
        ("csv-broken", "csv"),
    ],
)
def test_counts_speakers_and_planted_label_errors(corpora, key, corpus):
    exp = corpora[key]
    res = read_corpus(corpus, exp["root"])
    df = res.manifest
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(df) == exp["n"]
    assert counts(df, "label") == exp["classes"]
    assert counts(df, "speaker") == exp["speakers"]
    assert df["utt_id"].is_unique
    assert all(Path(p).is_absolute() and Path(p).exists() for p in df["path"])
    # every planted label-file defect is reported as an error at its exact line, and nothing else is
    assert error_locations(res.problems) - {(str(Path(f).resolve()), None) for f, _ in exp["planted"]} == (
        planted_locations(exp)
    )


def test_iemocap_speakers_gender_and_texts(corpora):
    exp = corpora["iemocap"]
    res = read_corpus("iemocap", exp["root"])
    df = res.manifest.set_index("utt_id")
    # the speaker is the gender of the LAST token, not the dialog's MoCap actor
    assert df.loc["Ses01F_impro01_M000", "speaker"] == "Ses01M"
    assert df.loc["Ses01F_impro01_M000", "gender"] == "M"
    assert df.loc["Ses02M_impro01_F000", "speaker"] == "Ses02F"
    assert df.loc["Ses03M_impro05a_F000", "speaker"] == "Ses03F"
    assert df.loc["Ses03M_impro05a_M000", "label"] == "happy"
    assert df.loc["Ses05M_script01_1b_F000", "speaker"] == "Ses05F"
    assert df.loc["Ses05M_script01_1b_F000", "method"] == "script"
    assert df.loc["Ses05M_script01_1b_F000", "dialog"] == "Ses05M_script01_1b"
    # exc merged into happy; decoy Categorical/ label (ang) ignored
    assert df.loc["Ses01F_impro01_F002", "label"] == "happy"
    assert df.loc["Ses01F_impro01_F002", "code"] == "exc"
    assert df.loc["Ses01F_impro01_F000", "label"] == "neutral"
    assert counts(res.manifest, "session") == exp["sessions"]
    assert df["speaker"].nunique() == 10
    for utt in df.index:
        assert df.loc[utt, "text"] == exp["texts"].get(utt, ""), utt
    assert df.loc[exp["no_transcript"], "text"] == ""
    assert "Hold on" not in " ".join(df["text"])  # the untimed `M:` line is skipped
    assert "LAUGHTER" not in " ".join(df["text"])  # the unlabelled MXX0 turn too
    assert df.loc["Ses01F_impro01_F000", "text"] == "Excuse me."
    assert df.loc["Ses01F_impro01_F000", "start"] == pytest.approx(0.2901)
    warned = [p for p in res.problems if exp["no_transcript"] in p.message]
    assert len(warned) == 1 and warned[0].severity == "warning"
    # nothing else: hidden/AppleDouble files, decoys, untimed and XX transcript lines pass silently
    assert len(res.problems) == 1


def test_iemocap_class_options(corpora):
    root = corpora["iemocap"]["root"]
    exp = corpora["iemocap"]
    assert counts(load_corpus("iemocap", root, classes="all"), "label") == exp["classes_all"]
    assert counts(load_corpus("iemocap", root, keep_exc=True), "label") == exp["classes_keep_exc_4"]
    df = load_corpus("iemocap", root, classes="all", keep_exc=True)
    assert counts(df, "label") == exp["classes_keep_exc_all"]
    assert "xxx" not in set(df["code"])  # no majority: never a class
    with pytest.raises(CorpusError, match="classes"):
        load_corpus("iemocap", root, classes="7")


def test_iemocap_nested_root_gives_same_manifest(corpora):
    flat = load_corpus("iemocap", corpora["iemocap"]["root"])
    nested = load_corpus("iemocap", corpora["iemocap-nested"]["root"])
    cols = ["utt_id", "label", "speaker", "session", "text"]
    pd.testing.assert_frame_equal(flat[cols], nested[cols])


def test_iemocap_broken_reports_orphan_wav(corpora):
    res = read_corpus("iemocap", corpora["iemocap-broken"]["root"])
    orphans = [p for p in res.warnings if p.file.endswith("Ses02M_impro01_M004.wav")]
    assert len(orphans) == 1
    with pytest.raises(CorpusError, match=r"Ses02M_impro01\.txt:\d+"):
        load_corpus("iemocap", corpora["iemocap-broken"]["root"], strict=True)
    collected: list = []
    load_corpus("iemocap", corpora["iemocap-broken"]["root"], problems=collected)
    assert len([p for p in collected if p.severity == "error"]) == 2


def test_msp_improv_fields(corpora):
    exp = corpora["msp-improv"]
    df = load_corpus("msp-improv", exp["root"]).set_index("utt_id")
    assert df["speaker"].nunique() == 12
    assert counts(df.reset_index(), "session") == exp["sessions"]
    row = df.loc["MSP-IMPROV-S01A-F01-S-FM01"]
    assert (row["speaker"], row["gender"], row["session"], row["label"]) == ("F01", "F", "session1", "angry")
    assert row["act"] == 3.0 and row["val"] == 3.5 and row["nat"] == 3.25
    assert math.isnan(df.loc[exp["nan_utt"], "nat"])  # NaN values are allowed
    assert df.loc[exp["relabelled_utt"], "label"] == "happy"  # consensus, not the target emotion
    assert df.loc[exp["relabelled_utt"], "acted_label"] == "neutral"
    assert set(df["text"]) == {""}
    full = load_corpus("msp-improv", exp["root"], classes="all")
    assert counts(full, "label") == exp["classes_all"]
    assert not read_corpus("msp-improv", exp["root"]).problems
    spelled = load_corpus("msp-improv", corpora["msp-improv-evalution"]["root"])
    assert sorted(spelled["utt_id"]) == sorted(df.index)


def test_msp_improv_missing_label_file(tmp_path):
    (tmp_path / "session1").mkdir()
    res = read_corpus("msp-improv", tmp_path)
    assert len(res.manifest) == 0
    assert "Evaluation.txt" in res.errors[0].message
    with pytest.raises(CorpusError, match="no usable utterances"):
        load_corpus("msp-improv", tmp_path)


@pytest.mark.parametrize("key", ["msp-podcast", "msp-podcast-1.9", "msp-podcast-1.6"])
def test_msp_podcast_versions(corpora, key):
    exp = corpora[key]
    res = read_corpus("msp-podcast", exp["root"])
    df = res.manifest.set_index("utt_id")
    assert counts(res.manifest, "split") == exp["splits"]
    for utt in df.index:
        assert df.loc[utt, "text"] == exp["texts"].get(utt, ""), utt
    assert df.loc["MSP-PODCAST_0001_0001", "gender"] == "M"
    assert df.loc["MSP-PODCAST_0001_0001", "act"] == pytest.approx(3.777778)
    # Unknown speakers are kept, each on its own, flagged
    unknown = df[~df["speaker_known"].astype(bool)]
    assert sorted(unknown.index) == ["MSP-PODCAST_0003_0003_0001", "MSP-PODCAST_0003_0005"]
    assert all(s == f"Unknown-{u}" for u, s in unknown["speaker"].items())
    assert set(unknown["gender"]) == {""}
    assert "MSP-PODCAST_test3_0001" not in df.index
    assert counts(load_corpus("msp-podcast", exp["root"], classes="all"), "label") == exp["classes_all"]
    assert [p.file for p in res.warnings] == [str(exp["root"] / "Transcripts" / f"{exp['no_transcript']}.txt")]


def test_msp_podcast_partitions_and_speaker_ids_fill_missing_columns(corpora, tmp_path):
    """An old label file without SpkrID/Gender/Split_Set: Partitions.txt and Speaker_ids.txt fill them."""
    import shutil

    exp = corpora["msp-podcast-1.6"]
    root = tmp_path / "podcast"
    shutil.copytree(exp["root"], root)
    label = root / "label" / "labels_concensus.csv"
    table = pd.read_csv(label, dtype=str)
    table.drop(columns=["SpkrID", "Gender", "Split_Set"]).to_csv(label, index=False)
    df = load_corpus("msp-podcast", root).set_index("utt_id")
    assert counts(df.reset_index(), "split") == exp["splits"]
    assert df.loc["MSP-PODCAST_0001_0003", "speaker"] == "2"
    assert df.loc["MSP-PODCAST_0001_0003", "gender"] == "F"  # from "Speaker_2;  Female" (stray spaces)
    assert df.loc["MSP-PODCAST_0003_0005", "speaker"] == "Unknown-MSP-PODCAST_0003_0005"


def test_msp_podcast_json_labels(corpora, tmp_path):
    import json
    import shutil

    root = tmp_path / "podcast"
    shutil.copytree(corpora["msp-podcast"]["root"], root)
    table = pd.read_csv(root / "Labels" / "labels_consensus.csv", dtype=str, keep_default_na=False)
    data = {r["FileName"]: {k: v for k, v in r.items() if k != "FileName"} for r in table.to_dict("records")}
    (root / "Labels" / "labels_consensus.json").write_text(json.dumps(data))
    (root / "Labels" / "labels_consensus.csv").unlink()
    df = load_corpus("msp-podcast", root)
    assert counts(df, "label") == corpora["msp-podcast"]["classes"]


def test_ravdess_fields(corpora):
    exp = corpora["ravdess"]
    res = read_corpus("ravdess", exp["root"])
    df = res.manifest.set_index("utt_id")
    for utt, text in exp["texts"].items():
        assert df.loc[utt, "text"] == text
    assert {s: g for s, g in zip(df["speaker"], df["gender"], strict=True)} == exp["genders"]
    assert "03-02-03-01-01-01-01" not in df.index  # song skipped
    assert df.loc["03-01-05-02-02-01-04", "intensity"] == "strong"
    assert counts(load_corpus("ravdess", exp["root"], classes="all"), "label") == exp["classes_all"]
    assert len(load_corpus("ravdess", exp["root"], song=True)) == exp["n"] + 1
    assert not res.problems


def test_csv_table(corpora):
    exp = corpora["csv"]
    df = load_corpus("csv", exp["root"]).set_index("utt_id")
    assert counts(df.reset_index(), "split") == exp["splits"]
    assert df.loc["audio/spkA/a3", "label"] == "angry"  # alias "anger"
    assert df.loc["audio/spkA/a2", "label"] == "happy"  # lower-cased
    assert df.loc["audio/spkA/a1", "text"] == "hello there"
    assert df.loc["audio/spkC/a1", "speaker"] == "spkC"  # same file name, other folder: distinct id
    assert df.loc["audio/spkA/a1", "note"] == "n0"  # extras kept
    assert not read_corpus("csv", exp["root"]).problems
    assert len(load_corpus("csv", exp["table"], classes="4")) == exp["n_4"]
    with pytest.raises(CorpusError, match="missing column"):
        bad = Path("bad.csv")
        bad.write_text("file,label\nx.wav,sad\n")
        load_corpus("csv", bad)


def test_manifest_roundtrip(corpora, tmp_path):
    df = load_corpus("iemocap", corpora["iemocap"]["root"])
    back = read_manifest(write_manifest(df, tmp_path / "m.csv"))
    assert list(back["utt_id"]) == list(df["utt_id"])
    assert list(back["speaker"]) == list(df["speaker"])


def test_durations_from_headers(corpora):
    df = load_corpus("msp-improv", corpora["msp-improv"]["root"], durations=True)
    assert df["duration"].to_numpy() == pytest.approx(0.25)
    assert load_corpus("msp-improv", corpora["msp-improv"]["root"])["duration"].isna().all()


def test_missing_root_is_a_clear_error(tmp_path):
    for name in ("iemocap", "msp-improv", "msp-podcast", "ravdess", "csv"):
        with pytest.raises(CorpusError, match="not found"):
            load_corpus(name, tmp_path / "nowhere")


@pytest.mark.skipif(not RAVDESS_REAL.is_dir(), reason="shared RAVDESS copy absent")
def test_ravdess_real_corpus():
    df = load_corpus("ravdess", RAVDESS_REAL, strict=True)
    assert len(df) == 672
    assert df["speaker"].nunique() == 24
    assert counts(df, "label") == {"neutral": 96, "happy": 192, "sad": 192, "angry": 192}
    assert set(df.groupby("speaker").size()) == {28}
    assert counts(df, "gender") == {"M": 336, "F": 336}
