"""Fréchet distances of a generator's rows to the real ones (stage 2's realism metrics and default selection).

- `frechet_distance`: ||μ1 − μ2||² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), computed with symmetric eigen-
  decompositions (Σ1^½ Σ2 Σ1^½ is symmetric PSD), which stays real and stable where sqrtm of the
  non-symmetric Σ1·Σ2 returns complex noise.
- `class_frechet_distance`: the class-frequency-weighted mean of per-class Fréchet distances (realism
  and conditioning at once; used by stage 2's default checkpoint selection).
"""

from __future__ import annotations

import numpy as np


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


class FrechetReference:
    """The real side of a Fréchet distance, prepared once (mean, covariance, its square root), so that
    scoring a generated set costs one `eigvalsh` instead of two full eigen-decompositions."""

    def __init__(self, mu: np.ndarray, cov: np.ndarray) -> None:
        self.mu = np.asarray(mu, np.float64)
        self.cov = np.asarray(cov, np.float64)
        self.root = _sqrt_psd(self.cov)
        self.trace = float(np.trace(self.cov))

    @classmethod
    def from_rows(cls, x: np.ndarray) -> FrechetReference:
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"frechet_distance: need an (n>=2, D) array, got {x.shape}")
        return cls(x.mean(0), np.cov(x, rowvar=False))

    def distance_to_moments(self, mu: np.ndarray, cov: np.ndarray) -> float:
        cov = np.asarray(cov, np.float64)
        return self._assemble(mu, float(np.trace(cov)), np.linalg.eigvalsh(self.root @ cov @ self.root))

    def _assemble(self, mu: np.ndarray, trace: float, cross_eigenvalues: np.ndarray) -> float:
        """||μ1 − μ||² + tr Σ1 + tr Σ − 2·Σ √λ, λ the eigenvalues of Σ1^½ Σ Σ1^½ (clipped at 0: rounding)."""
        tr_cross = float(np.sqrt(np.clip(cross_eigenvalues, 0, None)).sum())
        diff = self.mu - np.asarray(mu, np.float64)
        return float(max(diff @ diff + self.trace + trace - 2.0 * tr_cross, 0.0))

    def distance(self, y: np.ndarray) -> float:
        """FD to the rows y. With M = (y − ȳ)·Σ1^½ / √(n−1), Σ1^½ Σ2 Σ1^½ = M'M, whose non-zero eigenvalues are
        those of the smaller of M'M and MM': per class (a few hundred rows at 768 dims) that skips forming Σ2
        and two D³ products, and the eigenproblem is n x n (the periodic evaluation's largest cost)."""
        y = np.asarray(y, np.float64)
        if y.ndim != 2 or y.shape[1] != len(self.mu) or len(y) < 2:
            raise ValueError(f"frechet_distance: need an (n>=2, {len(self.mu)}) array, got {y.shape}")
        mu = y.mean(0)
        centred = (y - mu) / np.sqrt(len(y) - 1)
        m = centred @ self.root
        w = np.linalg.eigvalsh(m.T @ m if m.shape[0] > m.shape[1] else m @ m.T)
        return self._assemble(mu, float(np.vdot(centred, centred)), w)


def frechet_from_moments(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, s1) and N(mu2, s2)."""
    return FrechetReference(mu1, s1).distance_to_moments(mu2, s2)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of x and y (same width)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"frechet_distance: need two (n>=2, D) arrays, got {x.shape} and {y.shape}")
    return FrechetReference.from_rows(x).distance(y)


class ClassFrechetReference:
    """Per-class `FrechetReference`s of the real rows (classes with >= 2 rows), weighted by class count."""

    def __init__(self, real: np.ndarray, y_real: np.ndarray) -> None:
        y_real = np.asarray(y_real)
        self.refs = {
            int(k): (FrechetReference.from_rows(real[y_real == k]), int((y_real == k).sum()))
            for k in np.unique(y_real)
            if (y_real == k).sum() >= 2
        }

    def distance(self, fake: np.ndarray, y_fake: np.ndarray) -> float:
        y_fake = np.asarray(y_fake)
        total, weight = 0.0, 0
        for k, (ref, count) in self.refs.items():
            f = fake[y_fake == k]
            if len(f) >= 2:
                total += count * ref.distance(f)
                weight += count
        return total / weight if weight else float("nan")


def class_frechet_distance(real: np.ndarray, y_real: np.ndarray, fake: np.ndarray, y_fake: np.ndarray) -> float:
    """Class-conditional Fréchet distance: Σ_k p(k)·FD(real rows of k, generated rows of k), p(k) the
    real class frequencies; classes with fewer than 2 rows on either side are skipped. It is high when
    generated rows match the pooled distribution but not their requested class."""
    return ClassFrechetReference(real, y_real).distance(fake, y_fake)
