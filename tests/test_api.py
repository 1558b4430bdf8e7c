"""The public API: `misgan.InfoGAN` (fit / sample / save / load on any feature matrix), the names of
`misgan.__all__`, and docs/api.md, whose code blocks are executed and whose printed output is checked."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import misgan
from misgan.errors import ConfigError, MisganError

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
FAST = {"epochs": 60, "lr": 1e-3, "threads": 1, "align": {"epochs": 100, "lr": 1e-3, "h_dim": 8}}


def clusters(n: int = 240, d: int = 6, dt: int = 4, seed: int = 0, p=(0.5, 0.3, 0.2)):
    """Well-separated Gaussian clusters (string labels) with class-related text features."""
    rng = np.random.default_rng(seed)
    k = rng.choice(len(p), size=n, p=p)
    X = rng.normal(0, 4, (len(p), d))[k] + rng.normal(0, 1, (n, d))
    T = rng.normal(0, 2, (len(p), dt))[k] + rng.normal(0, 1, (n, dt))
    return X, np.array(["anger", "joy", "sad"])[k], T


@pytest.fixture(scope="module")
def data():
    return clusters()


@pytest.fixture(scope="module")
def multimodal(data):
    X, y, T = data
    return misgan.InfoGAN(seed=0, **FAST).fit(X, y, text=T)


@pytest.fixture(scope="module")
def unimodal(data):
    X, y, _ = data
    ints = np.array([3, 7, 9])[np.searchsorted(["anger", "joy", "sad"], y)]
    return misgan.InfoGAN(seed=1, **FAST).fit(X, ints)


def _same(a: misgan.Samples, b: misgan.Samples) -> bool:
    same_text = (a.text is None and b.text is None) or np.array_equal(a.text, b.text)
    return np.array_equal(a.features, b.features) and np.array_equal(a.labels, b.labels) and same_text


# ---------------------------------------------------------------- InfoGAN


@pytest.mark.parametrize("which", ["multimodal", "unimodal"])
def test_save_load_roundtrip_gives_identical_samples(which, request, data, tmp_path):
    model = request.getfixturevalue(which)
    again = misgan.InfoGAN.load(model.save(tmp_path / "syn"))
    assert _same(model.sample(50, seed=3), again.sample(50, seed=3))
    labels = np.repeat(model.classes_, 4)
    assert _same(model.sample(labels, seed=5), again.sample(labels, seed=5))
    assert np.array_equal(model.transform(data[0]), again.transform(data[0]))
    assert again.classes_.dtype == model.classes_.dtype
    assert again.classes_.tolist() == model.classes_.tolist()
    # a loaded model saves again to an equivalent one
    third = misgan.InfoGAN.load(again.save(tmp_path / "again"))
    assert _same(model.sample(20, seed=1), third.sample(20, seed=1))


def test_label_types_are_kept(multimodal, unimodal):
    assert multimodal.classes_.tolist() == ["anger", "joy", "sad"]
    assert unimodal.classes_.tolist() == [3, 7, 9]
    assert unimodal.sample(30, seed=0).labels.dtype.kind == "i"
    assert set(multimodal.sample(30, seed=0).labels.tolist()) <= {"anger", "joy", "sad"}
    assert multimodal.sample(["sad", "anger", "sad"], seed=0).labels.tolist() == ["sad", "anger", "sad"]
    assert unimodal.sample([9, 3], seed=0).labels.tolist() == [9, 3]
    with pytest.raises(MisganError, match="unknown label"):
        unimodal.sample(["joy"])  # no class of another type either
    with pytest.raises(MisganError, match="1-d"):
        unimodal.sample(np.array(3))


def test_pandas_inputs_and_tiny_data():
    import pandas as pd

    X, y, _ = clusters(n=12)
    model = misgan.InfoGAN(**{**FAST, "epochs": 2}).fit(pd.DataFrame(X), pd.Series(y, dtype=object))
    assert model.classes_.dtype.kind == "U" and model.classes_.tolist() == sorted(set(y.tolist()))
    # zero rows, in stage 1's space: as wide as transform(X) (the PCA adapter keeps at most the rank of X)
    assert model.sample(0).features.shape == (0, model.transform(X).shape[1])
    with pytest.raises(MisganError, match="one sortable type"):
        misgan.InfoGAN().fit(X[:2], np.array([1, "a"], dtype=object))


def test_seeds_and_class_distribution(multimodal, data):
    a, b, c = multimodal.sample(40, seed=7), multimodal.sample(40, seed=7), multimodal.sample(40, seed=8)
    assert _same(a, b)
    assert not np.array_equal(a.features, c.features)
    # `n` draws labels with the training class distribution (the stratified hold-out keeps the corpus's)
    drawn = multimodal.sample(4000, seed=0).labels
    expected = np.unique(data[1], return_counts=True)[1] / len(data[1])
    got = np.array([(drawn == k).mean() for k in multimodal.classes_])
    assert np.abs(got - expected).max() < 0.04, (got, expected)


@pytest.mark.parametrize("which", ["multimodal", "unimodal"])
def test_generated_rows_carry_their_class(which, request, data):
    model = request.getfixturevalue(which)
    X, _, _ = data
    y = model.classes_[np.searchsorted(["anger", "joy", "sad"], data[1])]
    H = model.transform(X)
    held = np.arange(len(X)) % 4 == 0
    clf = LogisticRegression(max_iter=2000).fit(H[~held], y[~held])
    real_acc = clf.score(H[held], y[held])
    assert real_acc >= 0.95  # the clusters are separable in h: the check below is meaningful
    fake = model.sample(np.repeat(model.classes_, 100), seed=0)
    acc = clf.score(fake.features, fake.labels)
    chance = 1 / len(model.classes_)
    assert acc > max(0.8, chance + 0.4), acc


def test_conditioning_text(multimodal, unimodal, data):
    _, y, T = data
    s = multimodal.sample(60, seed=2)
    assert s.text.shape == (60, T.shape[1])
    # without text given, each row is conditioned on a training row of its own class
    for t_row, label in zip(s.text, s.labels, strict=True):
        match = np.flatnonzero(np.abs(T.astype(np.float32) - t_row).max(axis=1) == 0)
        assert len(match) and (y[match] == label).all()
    given = T[:5] + 1.0
    s = multimodal.sample(y[:5], text=given, seed=0)
    assert np.allclose(s.text, given)
    assert unimodal.sample(5, seed=0).text is None
    with pytest.raises(MisganError, match="without text"):
        unimodal.sample(2, text=T[:2])
    with pytest.raises(MisganError, match="rows"):
        multimodal.sample(y[:5], text=T[:4])
    with pytest.raises(MisganError, match="columns"):
        multimodal.sample(y[:2], text=T[:2, :3])


def test_heads_given_samples_in_the_space_of_x(data):
    X, y, _ = data
    real = LogisticRegression(max_iter=2000).fit(X, y)
    model = misgan.InfoGAN(seed=0, **FAST).fit(X, y, heads={"W_y": real.coef_, "b_y": real.intercept_})
    assert np.array_equal(model.transform(X), X.astype(np.float32))
    fake = model.sample(np.repeat(model.classes_, 50), seed=0)
    assert fake.features.shape == (150, X.shape[1]) and fake.text is None
    assert real.score(fake.features, fake.labels) > 0.8
    with pytest.raises(MisganError, match="W_y"):
        misgan.InfoGAN(**FAST).fit(X, y, heads={"W_y": real.coef_[:2], "b_y": real.intercept_[:2]})


def test_explicit_valid_rows(data):
    X, y, T = data
    model = misgan.InfoGAN(seed=0, **FAST).fit(X[:200], y[:200], text=T[:200], valid=(X[200:], y[200:], T[200:]))
    assert len(model.sample(10).labels) == 10
    with pytest.raises(MisganError, match="text_valid"):
        misgan.InfoGAN(**FAST).fit(X[:200], y[:200], text=T[:200], valid=(X[200:], y[200:]))


def test_errors(data, multimodal):
    X, y, T = data
    with pytest.raises(MisganError, match="fit"):
        misgan.InfoGAN().sample(3)
    with pytest.raises(MisganError, match="rows"):
        misgan.InfoGAN(**FAST).fit(X[:-1], y)
    for bad in (np.nan, np.inf):
        Xb = X.copy()
        Xb[3, 2] = bad
        with pytest.raises(MisganError, match="NaN or inf"):
            misgan.InfoGAN(**FAST).fit(Xb, y)
    with pytest.raises(MisganError, match="single class"):
        misgan.InfoGAN(**FAST).fit(X, np.full(len(X), "joy"))
    with pytest.raises(MisganError, match="text has 239 rows"):
        misgan.InfoGAN(**FAST).fit(X, y, text=T[:-1])
    with pytest.raises(MisganError, match="unknown label"):
        multimodal.sample(["joy", "fear"])
    with pytest.raises(ConfigError, match="'epochs'"):
        misgan.InfoGAN(epoch=3)
    with pytest.raises(ConfigError, match="'h_dim'"):
        misgan.InfoGAN(align={"hdim": 3})
    with pytest.raises(ConfigError, match="lr"):
        misgan.InfoGAN(lr="fast")
    assert misgan.InfoGAN(lr="1e-3").config.lr == pytest.approx(1e-3)


def test_load_rejects_a_foreign_folder(tmp_path):
    (tmp_path / "infogan.json").write_text('{"format": "something else"}')
    with pytest.raises(MisganError, match="not a saved InfoGAN"):
        misgan.InfoGAN.load(tmp_path)
    with pytest.raises(MisganError, match="not found"):
        misgan.InfoGAN.load(tmp_path / "absent")


def test_load_reports_a_damaged_folder(multimodal, tmp_path):
    folder = multimodal.save(tmp_path / "syn")
    (folder / "arrays.npz").write_bytes(b"not an npz")
    with pytest.raises(MisganError, match=r"arrays\.npz"):
        misgan.InfoGAN.load(folder)
    (folder / "generator.pt").unlink()
    with pytest.raises(MisganError, match=r"generator\.pt"):
        misgan.InfoGAN.load(folder)


# ---------------------------------------------------------------- the package's public names


def test_public_names_resolve_after_every_submodule_is_imported():
    # The old bug: `from misgan import extract` gave the submodule once it had been imported. Import
    # every submodule first (in a fresh interpreter), then check what the public names are.
    code = """
import inspect, pkgutil, importlib, misgan
for m in pkgutil.walk_packages(misgan.__path__, "misgan."):
    if not m.name.endswith("__main__"):  # running it would start the CLI
        importlib.import_module(m.name)
from misgan import extract, align, train_gan, augment, InfoGAN
stages = (extract, align, train_gan, augment)
assert all(inspect.isfunction(f) for f in stages), stages
assert all(inspect.isfunction(getattr(misgan, n)) for n in ("extract", "align", "train_gan", "augment"))
assert inspect.isclass(InfoGAN) and inspect.isclass(misgan.RunResult)
missing = [n for n in misgan.__all__ if not hasattr(misgan, n)]
assert not missing, missing
children = {m.name for m in pkgutil.iter_modules(misgan.__path__)}
assert not children & set(misgan.__all__), children & set(misgan.__all__)
assert set(misgan.__all__) <= set(dir(misgan))
print("ok", len(misgan.__all__))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0] == "ok"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = misgan.nope


# ---------------------------------------------------------------- docs/api.md is true

_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)
_NUMBER = re.compile(r"-?\d+\.\d+")


def _doc_blocks() -> list[tuple[str, str | None]]:
    """(python code, the ```text block right after it or None) for each python block of the page."""
    blocks = [(m.group(1), m.group(2), m.start(), m.end()) for m in _BLOCK.finditer(DOC.read_text())]
    out = []
    for i, (lang, body, _, end) in enumerate(blocks):
        if lang != "python":
            continue
        after = blocks[i + 1] if i + 1 < len(blocks) else None
        adjacent = after is not None and after[0] == "text" and not DOC.read_text()[end : after[2]].strip()
        out.append((body, after[1] if adjacent else None))
    return out


def _matches(printed: str, shown: str) -> bool:
    """Same lines; decimals within 0.05 (another BLAS may round a score differently), all else exact."""
    a, b = printed.strip().splitlines(), shown.strip().splitlines()
    if len(a) != len(b):
        return False
    for la, lb in zip(a, b, strict=True):
        if _NUMBER.sub("#", la) != _NUMBER.sub("#", lb):
            return False
        na, nb = map(float, _NUMBER.findall(la)), map(float, _NUMBER.findall(lb))
        if any(abs(x - z) > 0.05 for x, z in zip(na, nb, strict=True)):
            return False
    return True


def test_docs_api_page_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _doc_blocks()
    assert len(blocks) >= 6
    namespace: dict = {"__name__": "docs_api"}
    for i, (code, shown) in enumerate(blocks, 1):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(compile(code, f"docs/api.md block {i}", "exec"), namespace)
        printed = buf.getvalue()
        if shown is None:
            assert printed == "", f"docs/api.md python block {i} prints but shows no output block:\n{printed}"
        else:
            assert _matches(printed, shown), f"docs/api.md block {i} printed:\n{printed}\nthe page shows:\n{shown}"
