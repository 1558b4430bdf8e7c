"""Deliberately broken inputs, run through the real CLI (issue 12.7).

    OMP_NUM_THREADS=1 python bench/bad_inputs.py [--keep DIR] [--only SUBSTRING]

Builds >= 40 broken inputs (corpus tables, manifests, audio, configs, caches with deleted or corrupted
chunks, a second writer, wrong dtypes, NaN features, empty speakers, duplicate ids, ...) in a temporary
folder, runs `python -m misgan ...` on each and prints one row per case: the case, the command, the exit
code and the first line of the message. Totals at the end:

- tracebacks: outputs that contain "Traceback" (must be 0);
- silent drops: a case that loses rows but exits 0 without a "left out" / "failed" line (must be 0);
- rows lost: a "rows: A in = B used + C left out" line with A != B + C or A != the rows given (must be 0);
- unexpected: an exit code outside the case's expected set.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from corpus_fixtures.files import garbage, tone, truncated, zero_length  # noqa: E402

ROWS = re.compile(r"rows: (\d+) in = (\d+) used \+ (\d+) left out")
LABELS = ("neutral", "happy", "sad", "angry")


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: tuple[int, ...]  # allowed exit codes
    rows_in: int | None = None  # rows the input holds, when the command accounts for rows
    drops: bool = False  # the input has rows that must be left out (loudly)
    setup: Callable[[], object] | None = None  # run right before (returns a handle to clean up)
    note: str = ""
    result: dict = field(default_factory=dict)


def table(root: Path, name: str, rows: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def good_rows(root: Path, n: int = 16) -> list[dict]:
    rows = []
    for i in range(n):
        wav = tone(root / "wav" / f"u{i:02d}.wav", seconds=0.5, freq=150 + 40 * (i % 4), seed=i)
        rows.append({"path": str(wav), "label": LABELS[i % 4], "speaker": f"s{i % 4}", "utt_id": f"u{i:02d}"})
    return rows


def build(tmp: Path) -> list[Case]:
    m = [sys.executable, "-m", "misgan"]
    base = good_rows(tmp / "corpus")
    cases: list[Case] = []

    def csv_case(name: str, rows: list[dict], cmd: str = "manifest", **kw) -> None:
        folder = tmp / name
        t = table(folder, f"{name}.csv", rows)
        argv = [*m, cmd, "--corpus", "csv", "--root", str(t)]
        if cmd == "manifest":
            argv += ["-o", str(folder / "out.csv")]
        cases.append(Case(name, argv, **kw))

    # ---- corpus tables (manifest / doctor) -------------------------------------------------------
    d = tmp / "dir_as_audio"
    d.mkdir()
    csv_case(
        "csv-path-is-directory", [*base[:15], {**base[15], "path": str(d)}], expect=(1,), rows_in=16, drops=True
    )
    csv_case(
        "csv-missing-audio", [*base[:15], {**base[15], "path": str(tmp / "nope.wav")}], expect=(1,), drops=True
    )
    csv_case(
        "csv-empty-speaker-half",
        [{**r, "speaker": ""} if i % 2 else r for i, r in enumerate(base)],
        expect=(1,),
        rows_in=16,
        drops=True,
    )
    typo = [*base[:15], {**base[15], "label": "angyr"}]
    cases.append(
        Case(
            "csv-label-typo-classes-4",
            [
                *m,
                "manifest",
                "--corpus",
                "csv",
                "--root",
                str(table(tmp / "typo4", "t.csv", typo)),
                "--classes",
                "4",
                "-o",
                str(tmp / "typo4" / "o.csv"),
            ],
            expect=(0,),  # chosen by --classes, so no failure, but listed per label with a typo hint
            rows_in=16,
            drops=True,
        )
    )
    csv_case("csv-label-typo-all-classes", typo, expect=(0,), rows_in=16, note="warning: label seen once")
    csv_case(
        "csv-duplicate-utt-id", [*base[:15], {**base[15], "utt_id": "u00"}], expect=(1,), rows_in=16, drops=True
    )
    csv_case("csv-missing-column", [{k: v for k, v in r.items() if k != "speaker"} for r in base], expect=(2,))
    bad_fields = tmp / "fields"
    bad_fields.mkdir()
    (bad_fields / "t.csv").write_text("path,label,speaker\n" + f"{base[0]['path']},happy,s1,extra\n")
    cases.append(
        Case("csv-wrong-field-count", [*m, "manifest", "-c", "csv", "-r", str(bad_fields / "t.csv")], (1,))
    )
    cases.append(Case("csv-table-not-found", [*m, "manifest", "-c", "csv", "-r", str(tmp / "none.csv")], (2,)))
    (tmp / "empty.csv").write_text("")
    cases.append(Case("csv-empty-table", [*m, "manifest", "-c", "csv", "-r", str(tmp / "empty.csv")], (2,)))
    for kind, make in (("garbage", garbage), ("truncated", truncated), ("zero-length", zero_length)):
        wav = make(tmp / kind / "bad.wav")
        rows = [*base[:15], {**base[15], "path": str(wav)}]
        csv_case(f"doctor-{kind}-audio", rows, cmd="doctor", expect=(1,), drops=True)
    cases.append(
        Case("doctor-bad-classes", [*m, "doctor", "-c", "ravdess", "-r", str(tmp), "--classes", "7"], (2,))
    )
    cases.append(Case("manifest-unknown-corpus", [*m, "manifest", "-c", "emodb9", "-r", str(tmp)], (2,)))

    # ---- manifests given to extract --------------------------------------------------------------
    man = tmp / "manifests"
    man.mkdir()
    good = pd.DataFrame(base)
    good.to_csv(man / "good.csv", index=False)
    ext = [*m, "extract", "--audio-encoder", "egemaps", "--text-encoder", "none", "--workers", "0"]

    def man_case(name: str, df: pd.DataFrame, expect: tuple[int, ...], extra: list[str] = (), **kw) -> None:
        df.to_csv(man / f"{name}.csv", index=False)
        out = tmp / "caches" / f"{name}.zarr"
        cases.append(Case(name, [*ext, "-m", str(man / f"{name}.csv"), "-o", str(out), *extra], expect, **kw))

    cases.append(Case("extract-manifest-not-found", [*ext, "-m", str(man / "no.csv")], (2,)))
    man_case("extract-manifest-no-speaker-column", good.drop(columns="speaker"), (2,))
    man_case("extract-manifest-duplicate-ids", good.assign(utt_id=["x"] * 16), (2,))
    man_case("extract-manifest-empty-label", good.assign(label=[""] + ["happy"] * 15), (2,))
    man_case(
        "extract-manifest-directory-row",
        pd.concat([good.iloc[:15], good.iloc[15:].assign(path=str(d))]),
        (1,),
        rows_in=16,
        drops=True,
    )
    man_case(
        "extract-manifest-classes-typo",
        good.assign(label=[*good.label[:15], "angyr"]),
        (0,),
        ["--classes", "4"],
        drops=True,
    )
    man_case("extract-no-class-matches", good, (2,), ["--classes", "calm,fearful"])
    man_case("extract-unknown-encoder", good, (2,), ["--audio-encoder", "no-such-encoder"])
    man_case("extract-chunk-rows-zero", good, (2,), ["--chunk-rows", "0"])
    man_case("extract-bad-format", good, (2,), ["--format", "parquet"])
    cases.append(Case("extract-bad-suffix", [*ext, "-m", str(man / "good.csv"), "-o", str(tmp / "c.npz")], (2,)))
    cases.append(Case("extract-neither-source", [*ext], (2,)))

    # ---- import: wrong dtypes, NaN, shapes, feature-only --------------------------------------------
    imp = tmp / "import"
    imp.mkdir()
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(16, 8)).astype(np.float32)
    np.save(imp / "ok.npy", feats)
    fonly = good.drop(columns="path")
    fonly.to_csv(imp / "features_only.csv", index=False)
    im = [*m, "import", "-m", str(imp / "features_only.csv")]

    def imp_case(name: str, arr: object, expect: tuple[int, ...], suffix: str = ".npy", **kw) -> None:
        p = imp / f"{name}{suffix}"
        if suffix == ".npy":
            np.save(p, arr)
        else:
            p.write_text(str(arr))
        cases.append(Case(name, [*im, "--audio", str(p), "-o", str(imp / f"{name}.zarr")], expect, **kw))

    nan = feats.copy()
    nan[3, 2] = np.nan
    imp_case("import-nan-features", nan, (2,))
    imp_case("import-wrong-row-count", feats[:10], (2,))
    imp_case("import-1d-array", feats[:, 0], (2,))
    imp_case("import-string-dtype", np.array([["a"] * 8] * 16), (2,))
    imp_case("import-object-pickle", np.array([{"a": 1}] * 16, dtype=object), (2,))
    imp_case("import-non-numeric-csv", "f0,f1\n" + "x,1\n" * 16, (2,), suffix=".csv")
    imp_case("import-unsupported-suffix", "junk", (2,), suffix=".mat")
    cases.append(
        Case(
            "import-features-only-manifest",
            [*im, "--audio", str(imp / "ok.npy"), "-o", str(tmp / "fo.zarr")],
            (0,),
        )
    )
    cases.append(
        Case("import-existing-cache", [*im, "--audio", str(imp / "ok.npy"), "-o", str(tmp / "fo.zarr")], (2,))
    )
    cases.append(
        Case(
            "import-text-row-mismatch",
            [
                *im,
                "--audio",
                str(imp / "ok.npy"),
                "--text",
                str(imp / "import-wrong-row-count.npy"),
                "-o",
                str(tmp / "tm.zarr"),
            ],
            (2,),
        )
    )

    # ---- caches: deleted / corrupted chunks, unfinished, foreign ------------------------------------
    from store_fixtures import make_feature_store

    caches = tmp / "stores"
    for name in ("deleted.zarr", "flipped.zarr", "flipped.h5", "ok.zarr"):
        make_feature_store(caches / name, chunk_rows=64).close()
    (caches / "deleted.zarr" / "audio" / "c" / "1" / "0").unlink()
    _flip(caches / "flipped.zarr" / "audio" / "c" / "2" / "0")
    _flip_h5(caches / "flipped.h5", "audio", 1)
    cases.append(Case("info-deleted-zarr-chunk", [*m, "info", str(caches / "deleted.zarr")], (2,)))
    cases.append(Case("align-deleted-zarr-chunk", [*m, "align", "--cache", str(caches / "deleted.zarr")], (2,)))
    cases.append(Case("info-verify-flipped-zarr", [*m, "info", "--verify", str(caches / "flipped.zarr")], (2,)))
    cases.append(Case("info-verify-flipped-h5", [*m, "info", "--verify", str(caches / "flipped.h5")], (2,)))
    cases.append(
        Case("align-flipped-h5", [*m, "align", "--cache", str(caches / "flipped.h5"), "--epochs", "1"], (2,))
    )
    (caches / "notacache.zarr").mkdir()
    cases.append(Case("info-not-a-cache", [*m, "info", str(caches / "notacache.zarr")], (2,)))
    shutil.copytree(caches / "ok.zarr", caches / "half.zarr.tmp")
    cases.append(Case("info-unfinished-store", [*m, "info", str(caches / "half.zarr")], (2,)))
    cases.append(Case("align-missing-cache", [*m, "align", "--cache", str(caches / "none.zarr")], (2,)))
    cases.append(
        Case("info-feature-only-cache-audio", [*m, "info", str(tmp / "fo.zarr")], (0,), note="names feature-only")
    )

    # ---- configs ---------------------------------------------------------------------------------
    cfg = tmp / "cfg"
    cfg.mkdir()
    (cfg / "lr.yaml").write_text("lr: abc\n")
    (cfg / "unknown.yaml").write_text("no_such_field: 3\n")
    (cfg / "notyaml.yaml").write_text("epochs: [1, 2\n")
    (cfg / "list.yaml").write_text("- 1\n- 2\n")
    (cfg / "epochs.yaml").write_text("epochs: -5\n")
    ok = str(caches / "ok.zarr")
    for stage in ("align", "gan"):
        for c in ("lr", "unknown", "notyaml", "list"):
            cases.append(
                Case(f"{stage}-config-{c}", [*m, stage, "--cache", ok, "--config", str(cfg / f"{c}.yaml")], (2,))
            )
    cases.append(
        Case(
            "align-config-negative-epochs",
            [*m, "align", "--cache", ok, "--config", str(cfg / "epochs.yaml")],
            (2,),
        )
    )
    cases.append(
        Case("align-config-missing-file", [*m, "align", "--cache", ok, "--config", str(cfg / "none.yaml")], (2,))
    )
    cases.append(Case("augment-ratio-zero", [*m, "augment", "--cache", ok, "--ratio", "0"], (2,)))

    # ---- two writers -----------------------------------------------------------------------------
    lock_target = tmp / "locked.zarr"

    def hold() -> subprocess.Popen:
        code = (
            "import sys,time;from pathlib import Path;from misgan.locks import writer_lock\n"
            "with writer_lock(Path(sys.argv[1])):\n print('held',flush=True);time.sleep(120)"
        )
        p = subprocess.Popen([sys.executable, "-c", code, str(lock_target)], stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        return p

    cases.append(
        Case("two-writers-import", [*im, "--audio", str(imp / "ok.npy"), "-o", str(lock_target)], (2,), setup=hold)
    )
    cases.append(
        Case("two-writers-extract", [*ext, "-m", str(man / "good.csv"), "-o", str(lock_target)], (2,), setup=hold)
    )
    return cases


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, min(len(data), len(data) // 2 + 8)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _flip_h5(path: Path, name: str, chunk: int) -> None:
    import h5py

    with h5py.File(path, "r") as f:
        info = f[name].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = fh.read(8)
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes(x ^ 0xFF for x in b))


def run_case(case: Case, env: dict[str, str]) -> dict:
    handle = case.setup() if case.setup else None
    try:
        r = subprocess.run(case.argv, capture_output=True, text=True, env=env, timeout=600)
    finally:
        if handle is not None:
            handle.kill()
            handle.wait()
    out = r.stdout + r.stderr
    lines = [ln.strip() for ln in (r.stderr.strip() or r.stdout.strip()).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    first = errors[0] if errors else (lines[0] if lines else "")
    rows = ROWS.search(out)
    lost = bool(
        rows
        and (
            int(rows[1]) != int(rows[2]) + int(rows[3])
            or (case.rows_in is not None and int(rows[1]) != case.rows_in)
        )
    )
    loud = r.returncode != 0 or "left out" in out or "failed" in out
    return {
        "code": r.returncode,
        "first": first,
        "traceback": "Traceback" in out,
        "silent": case.drops and not loud,
        "lost": lost,
        "unexpected": r.returncode not in case.expect,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="build the inputs here and keep them")
    ap.add_argument("--only", default="", help="run the cases whose name contains this")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="misgan-bad-"))
    tmp.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
    cwd = os.getcwd()
    os.chdir(tmp)  # default outputs (manifests/, cache/, runs/) land in the temp folder
    try:
        cases = [c for c in build(tmp) if args.only in c.name]
        width = max(len(c.name) for c in cases)
        print(f"{'case':<{width}}  exit  message (first line)")
        for c in cases:
            c.result = run_case(c, env)
            flag = " !" if (c.result["unexpected"] or c.result["traceback"] or c.result["silent"]) else ""
            print(f"{c.name:<{width}}  {c.result['code']:>4}  {c.result['first'][:150]}{flag}", flush=True)
        totals = {k: sum(bool(c.result[k]) for c in cases) for k in ("traceback", "silent", "lost", "unexpected")}
        print(
            f"\n{len(cases)} cases: tracebacks {totals['traceback']}, silent drops {totals['silent']}, "
            f"rows lost {totals['lost']}, unexpected exit codes {totals['unexpected']}"
        )
        (tmp / "bad_inputs.json").write_text(
            json.dumps([{"case": c.name, "argv": c.argv[2:], **c.result} for c in cases], indent=1)
        )
        return 1 if totals["traceback"] or totals["silent"] or totals["lost"] else 0
    finally:
        os.chdir(cwd)
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
