"""FID and KID from Inception features (float64 NumPy; the features come from `inception.py`).

FID (Heusel et al. 2017): the Fréchet distance between Gaussians fitted to two sets
of features, |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), as pytorch-fid computes
it (unbiased covariances). The trace of the matrix square root is taken from the
eigenvalues of S1^(1/2) S2 S1^(1/2), which has the same spectrum as S1 S2 but is
symmetric, so no complex square roots arise.

KID (Bińkowski et al. 2018): the unbiased estimate of the squared MMD with the
polynomial kernel k(x, y) = (x.y / d + 1)^3, here over the whole two sets at once
(no random subsets, so it is deterministic).
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of `[N, D]` features (N >= 2)."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need at least 2 feature vectors as [N, D], got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    root1 = _psd_sqrt(sigma1)
    middle = root1 @ sigma2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def fid(features_x: np.ndarray, features_y: np.ndarray) -> float:
    """FID between two sets of `[N, D]` Inception features."""
    return frechet_distance(*feature_statistics(features_x), *feature_statistics(features_y))


def _kernel_sum(a: np.ndarray, b: np.ndarray, block: int = 1024) -> float:
    d = a.shape[1]
    total = 0.0
    for start in range(0, a.shape[0], block):
        total += float(((a[start:start + block] @ b.T / d + 1.0) ** 3).sum())
    return total


def _kernel_trace(a: np.ndarray) -> float:
    return float(((np.einsum("nd,nd->n", a, a) / a.shape[1] + 1.0) ** 3).sum())


def kid(features_x: np.ndarray, features_y: np.ndarray) -> float:
    """Unbiased squared MMD with the cubic polynomial kernel between two feature sets."""
    x, y = np.asarray(features_x, np.float64), np.asarray(features_y, np.float64)
    m, n = x.shape[0], y.shape[0]
    if m < 2 or n < 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"need >= 2 feature vectors of equal width per set, got {x.shape}, {y.shape}")
    xx = (_kernel_sum(x, x) - _kernel_trace(x)) / (m * (m - 1))
    yy = (_kernel_sum(y, y) - _kernel_trace(y)) / (n * (n - 1))
    return float(xx + yy - 2.0 * _kernel_sum(x, y) / (m * n))
