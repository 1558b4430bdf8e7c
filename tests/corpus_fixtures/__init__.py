"""Synthetic corpora in the exact on-disk layouts of IEMOCAP, MSP-IMPROV, MSP-Podcast, RAVDESS and csv.

Each `make_<corpus>(root, ...)` writes a small corpus (0.25-0.3 s tones) under `root` and returns a dict
of what a correct reader must find. The counts are written out by hand from the tables in each module, not
computed, so they are an independent reference. With `broken=True` defects are planted: garbage,
zero-length and truncated audio, a malformed label line, a label pointing at a missing file; their
locations are listed under "planted" as (file, line or None).

    PYTHONPATH=tests python -m corpus_fixtures /tmp/fixtures     # writes every corpus, clean and broken
"""

from __future__ import annotations

from pathlib import Path

from corpus_fixtures.files import APPLEDOUBLE, SENTENCES, garbage, tone, truncated, write, zero_length
from corpus_fixtures.iemocap import IEMOCAP_DIALOGS, make_iemocap
from corpus_fixtures.msp import PODCAST_VERSIONS, make_msp_improv, make_msp_podcast
from corpus_fixtures.simple import make_csv, make_ravdess

__all__ = [
    "APPLEDOUBLE",
    "IEMOCAP_DIALOGS",
    "MAKERS",
    "PODCAST_VERSIONS",
    "SENTENCES",
    "garbage",
    "main",
    "make_csv",
    "make_iemocap",
    "make_msp_improv",
    "make_msp_podcast",
    "make_ravdess",
    "tone",
    "truncated",
    "write",
    "zero_length",
]

MAKERS = {
    "iemocap": make_iemocap,
    "msp-improv": make_msp_improv,
    "msp-podcast": make_msp_podcast,
    "ravdess": make_ravdess,
    "csv": make_csv,
}


def main(out: str) -> None:
    for name, make in MAKERS.items():
        for broken in (False, True):
            folder = Path(out) / (f"{name}-broken" if broken else name)
            exp = make(folder, broken=broken)
            print(f"{folder}: {exp['n']} utterances expected, classes {exp['classes']}")
