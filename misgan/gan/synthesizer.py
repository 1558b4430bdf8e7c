"""`InfoGAN`: the paper's two stages on any feature matrix, CTGAN/sklearn-style (docs/api.md).

    InfoGAN(epochs=..., seed=0).fit(X, y, text=T)  # stage 1 (adapter + heads), then stage 2 (G)
    .sample(n or labels, text=None, seed=0)         # Samples(features, labels, text)
    .transform(X)                                   # real rows into the space the samples live in
    .save(folder), InfoGAN.load(folder)

Samples live in stage 1's aligned space h, where G and its MI heads work, not in X's: mapping ĥ back
through the inverse of the trained linear adapter inflated the samples' std 3-20x on 10-dim clusters
(condition number ~400), so users augment `transform(X_train)`. With `heads` that act on X itself no
adapter is trained: G trains on standardised X (heads rewritten to match) and samples come back in X.
Without text (or heads without W_t) it is unimodal: stage 1 has alpha = beta = 0, G has no text input.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, NamedTuple

import numpy as np

from misgan.alignment.config import AlignConfig
from misgan.errors import ConfigError, SynthesizerError
from misgan.gan.config import GanConfig
from misgan.gan.infogan_files import InfoGANFiles

_OWN = {"align", "valid_fraction", "verbose"}


class Samples(NamedTuple):
    features: np.ndarray  # (n, h_dim) float32, in the space of `transform(X)`
    labels: np.ndarray  # (n,) in the label type given to `fit` (entries of `classes_`)
    text: np.ndarray | None  # (n, dt) raw text features that conditioned G; None for a unimodal G


def _closest(name: str, valid: list[str]) -> str:
    near = difflib.get_close_matches(name, valid, n=1)
    return f"; did you mean {near[0]!r}?" if near else f"; valid: {', '.join(sorted(valid))}"


def _matrix(a: Any, name: str, rows: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2 or a.shape[0] == 0:
        raise SynthesizerError(f"InfoGAN: {name} must be a non-empty 2-d array (got shape {a.shape})")
    if rows is not None and len(a) != rows:
        raise SynthesizerError(f"InfoGAN: {name} has {len(a)} rows but there are {rows} labels")
    if not np.isfinite(a).all():
        raise SynthesizerError(f"InfoGAN: {name} contains NaN or inf")
    return a


class InfoGAN(InfoGANFiles):
    """MI-regularised conditional InfoGAN (paper §3) for a feature matrix with class labels.

    Keywords: any GanConfig field (epochs, lr, noise_dim, seed, ...); `align` = dict of AlignConfig fields
    for stage 1 (its seed defaults to `seed`); `valid_fraction` = share of rows held out (stratified) for
    stage-1 early stopping and checkpoint selection when `fit` gets no `valid`; `verbose` = progress bars."""

    def __init__(
        self, *, align: dict[str, Any] | AlignConfig | None = None, valid_fraction: float = 0.15, **config: Any
    ):
        from misgan.config import from_dict

        self.verbose = bool(config.pop("verbose", False))
        names = [f.name for f in dataclasses.fields(GanConfig)] + sorted(_OWN)
        for key in config:
            if key not in names:
                raise ConfigError(f"InfoGAN: unknown setting {key!r}{_closest(key, names)}")
        # misgan.config's loader coerces and checks values as it does for YAML files ("1e-3" -> 0.001)
        self.config: GanConfig = from_dict(GanConfig, config, "InfoGAN")
        own = {"seed": self.config.seed, "threads": self.config.threads}
        if isinstance(align, AlignConfig):
            align = dataclasses.asdict(align)
        self.align_config: AlignConfig = from_dict(AlignConfig, {**own, **(align or {})}, "InfoGAN")
        if not 0 <= valid_fraction < 1:
            raise ConfigError(f"InfoGAN: valid_fraction must lie in [0, 1) (got {valid_fraction})")
        self.valid_fraction = valid_fraction
        self._fitted = False

    def __repr__(self) -> str:
        return f"InfoGAN({'fitted' if self._fitted else 'not fitted'}, epochs={self.config.epochs})"

    # ------------------------------------------------------------------ fit

    def fit(self, X: Any, y: Any, text: Any = None, *, heads: dict | None = None, valid: tuple | None = None):
        """Fit stage 1 (unless `heads` are given: then X is already the heads' space) and the generator.

        `valid` = (X_v, y_v) or (X_v, y_v, text_v): rows for early stopping and checkpoint selection;
        without it `valid_fraction` of the rows are held out (the generator trains on the others)."""
        from misgan.gan.train import fit_gan

        y = np.asarray(y)
        if y.dtype == object and all(isinstance(v, str) for v in y.tolist()):
            y = y.astype(str)  # a pandas column of strings: keep numpy's str dtype, as for a list
        X = _matrix(X, "X", len(y) if y.ndim == 1 else None)
        if y.ndim != 1 or len(y) != len(X):
            raise SynthesizerError(f"InfoGAN: y must be 1-d with one label per row of X ({len(X)}); got {y.shape}")
        try:
            self.classes_, yi = np.unique(y, return_inverse=True)
        except TypeError:  # e.g. ints and strings mixed in an object array
            raise SynthesizerError("InfoGAN: y's labels must be of one sortable type") from None
        if len(self.classes_) < 2:
            raise SynthesizerError(f"InfoGAN: y has a single class ({self.classes_[0]!r}); need at least 2")
        t = None if text is None else _matrix(text, "text", len(X))
        if heads is not None and t is not None and "W_t" not in heads:
            raise SynthesizerError("InfoGAN: text was given but heads has no W_t, b_t")
        n = len(X)
        if valid is not None:
            Xv, yv, tv = self._valid_rows(valid, X.shape[1], t)
            X, yi = np.vstack([X, Xv]), np.concatenate([yi, yv])
            t = None if t is None else np.vstack([t, tv])
            tr, va = np.arange(n), np.arange(n, len(X))
        else:
            tr, va = self._split(yi)
        self._fitted = False
        self.n_features_in_, self.text_dim_ = X.shape[1], 0 if t is None else t.shape[1]
        self._extras: dict[str, np.ndarray] = {}
        self.align_config_: AlignConfig | None = None
        if heads is None:
            h, heads = self._fit_stage1(X, yi, t, tr, va)
        else:
            h, heads = self._user_heads(heads, X, t, tr)
        gan = self.config
        if t is None:
            gan = dataclasses.replace(gan, use_text=False, text_mode="none")
        tg = t if gan.use_text else None

        def sub(a: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
            return None if a is None else a[rows]

        result = fit_gan(
            h[tr], yi[tr], sub(tg, tr), heads, gan, valid=(h[va], yi[va], sub(tg, va)) if len(va) else None,
            progress=self.verbose, desc="InfoGAN",
        )  # fmt: skip
        self.heads_ = {k: np.asarray(v, np.float32) for k, v in heads.items()}
        self._result, self.metrics_ = result, result.metrics
        self._y_train, self._t_train = yi[tr], sub(tg, tr)
        self._fitted = True
        return self

    def _valid_rows(self, valid: tuple, d: int, t: np.ndarray | None) -> tuple:
        if not isinstance(valid, tuple) or len(valid) not in (2, 3):
            raise SynthesizerError("InfoGAN: valid must be (X_valid, y_valid) or (X_valid, y_valid, text_valid)")
        yv = np.asarray(valid[1])
        Xv = _matrix(valid[0], "valid X", len(yv))
        if Xv.shape[1] != d:
            raise SynthesizerError(f"InfoGAN: valid X has {Xv.shape[1]} columns, X has {d}")
        tv = None
        if t is not None:
            if len(valid) < 3:
                raise SynthesizerError("InfoGAN: fit got text, so valid needs (X_valid, y_valid, text_valid)")
            tv = _matrix(valid[2], "valid text", len(yv))
        return Xv, self._label_index(yv), tv

    def _split(self, yi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stratified hold-out of `valid_fraction` (a plain random one when some class is too small)."""
        from sklearn.model_selection import train_test_split

        rows = np.arange(len(yi))
        if self.valid_fraction == 0 or len(yi) < 4:
            return rows, rows[:0]
        try:
            tr, va = train_test_split(
                rows, test_size=self.valid_fraction, stratify=yi, random_state=self.config.seed
            )
        except ValueError:  # a class with one row, or fewer held-out rows than classes
            tr, va = train_test_split(rows, test_size=self.valid_fraction, random_state=self.config.seed)
        return np.sort(tr), np.sort(va)

    def _fit_stage1(self, X, yi, t, tr, va) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        from misgan.alignment.adapter import train_fold
        from misgan.data.folds import Fold

        cfg = self.align_config
        if t is None:  # no alignment terms; W_t is fitted on a constant dummy column and never used
            cfg = dataclasses.replace(cfg, alpha=0.0, beta=0.0, text_head="lstsq")
        fold = Fold("InfoGAN", tr, va if len(va) else tr, va)
        text = np.zeros((len(X), 1), np.float32) if t is None else t
        r = train_fold(X, text, yi, fold, cfg, len(self.classes_), progress=self.verbose)
        self.align_metrics_ = {k: v for k, v in r.baseline.items() if k != "confusion"}
        self._extras = {k: v for k, v in r.extras.items() if k.startswith(("audio_", "adapter."))}
        self.align_config_ = cfg  # as used: the unimodal variant differs from the requested one
        heads = dict(r.heads)
        if t is not None:
            heads.update(text_mean=r.extras["text_mean"], text_std=r.extras["text_std"])
        return r.h, heads

    def _user_heads(self, heads: dict, X: np.ndarray, t: np.ndarray | None, tr: np.ndarray) -> tuple:
        """G trains on standardised X (Adam's steps are ~lr whatever the scale) with the heads rewritten
        for it, W·x + b = (W·diag(σ))·x_std + (b + W·μ); samples are mapped back exactly."""
        from misgan.alignment.adapter import standardiser
        from misgan.gan.models import FrozenHeads

        d = X.shape[1]
        out = {k: np.asarray(v, np.float32) for k, v in heads.items()}
        if t is None and "W_t" not in out:  # unimodal: FrozenHeads wants a text head; G never uses it
            out.update(W_t=np.zeros((1, d), np.float32), b_t=np.zeros(1, np.float32))
        try:
            frozen = FrozenHeads(out)
        except ValueError as exc:
            raise SynthesizerError(f"InfoGAN: heads: {exc}") from None
        if (frozen.n_classes, frozen.h_dim) != (len(self.classes_), d):
            raise SynthesizerError(
                f"InfoGAN: W_y is {frozen.n_classes}x{frozen.h_dim}; need {len(self.classes_)} classes x {d}"
            )
        mu, sd = standardiser(X, tr)
        self._extras = {"x_mean": mu, "x_std": sd}
        for w, b in (("W_y", "b_y"), ("W_t", "b_t")):
            out[w], out[b] = out[w] * sd, out[b] + out[w] @ mu
        return (X - mu) / sd, out

    def _label_index(self, labels: Any) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise SynthesizerError(f"InfoGAN: labels must be an int (a count) or a 1-d array (got {labels!r})")
        index = {c: i for i, c in enumerate(self.classes_.tolist())}  # dict: works for mixed dtypes too
        idx = np.array([index.get(v, -1) for v in labels.tolist()], np.int64)
        if (idx < 0).any():
            unknown = sorted({str(v) for v in labels[idx < 0].tolist()})[:5]
            raise SynthesizerError(f"InfoGAN: unknown label(s) {', '.join(unknown)}; classes: {self.classes_}")
        return idx

    # ------------------------------------------------------------------ use

    def _check_fitted(self) -> None:
        if not self._fitted:
            raise SynthesizerError("InfoGAN: call fit (or InfoGAN.load) before transform/sample/save")

    def transform(self, X: Any) -> np.ndarray:
        """Real rows into the space of `sample(...).features` (stage 1's h; identity when heads were given)."""
        self._check_fitted()
        X = _matrix(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise SynthesizerError(f"InfoGAN: X has {X.shape[1]} columns; fit saw {self.n_features_in_}")
        if "x_mean" in self._extras:  # heads given: the samples are mapped back into X
            return X
        from misgan.alignment.adapter import recompute_h

        return recompute_h(self._extras, X, self.align_config_)

    def sample(self, n: Any, text: Any = None, seed: int = 0) -> Samples:
        """`n` rows with labels drawn from the training class distribution, or one row per entry of the
        label array `n`. A multimodal G is conditioned on `text` (one row per sample) or, when None, on
        text features of training rows of each sample's class. The same seed gives the same Samples."""
        from misgan.gan.train import conditioning_text, generate

        self._check_fitted()
        rng = np.random.default_rng(seed)
        if isinstance(n, (int, np.integer)) and not isinstance(n, bool):
            if n < 0:
                raise SynthesizerError(f"InfoGAN: cannot draw {n} samples")
            p = np.bincount(self._y_train, minlength=len(self.classes_)) / len(self._y_train)
            yi = rng.choice(len(self.classes_), size=int(n), p=p)
        else:
            yi = self._label_index(n)
        g = self._result.generator
        if not g.use_text:
            if text is not None:
                raise SynthesizerError("InfoGAN: this generator was fitted without text; pass text=None")
            t = None
        elif text is None:
            t = conditioning_text(self._t_train, self._y_train, yi, self._result.config.text_mode, rng)
        else:
            t = _matrix(text, "text", len(yi))
            if t.shape[1] != g.text_dim:
                raise SynthesizerError(f"InfoGAN: text has {t.shape[1]} columns; fit saw {g.text_dim}")
        features = generate(g, yi, t, seed)
        if "x_mean" in self._extras:
            features = features * self._extras["x_std"] + self._extras["x_mean"]
        return Samples(features, self.classes_[yi], t)
