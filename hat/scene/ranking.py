"""Class-level scene distances (HAT): average per-video descriptors per class, L1 between classes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def class_means(descriptors: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[C,D]; NaN rows for classes without videos."""
    d = np.asarray(descriptors, dtype=np.float64)
    out = np.full((num_classes, d.shape[1]), np.nan)
    labels = np.asarray(labels)
    for c in range(num_classes):
        sel = labels == c
        if sel.any():
            out[c] = d[sel].mean(axis=0)
    return out


def l1_distances(means: np.ndarray) -> np.ndarray:
    """[C,C] L1 distances; NaN where a class has no videos."""
    return np.abs(means[:, None, :] - means[None, :, :]).sum(axis=2)


def ranked_others(dist: np.ndarray, c: int) -> np.ndarray:
    """Other classes from closest to farthest (ties by class index); classes without data dropped."""
    row = dist[c]
    others = np.array([j for j in range(len(row)) if j != c and np.isfinite(row[j])], dtype=np.int64)
    return others[np.argsort(row[others], kind="stable")]


def ranks(dist: np.ndarray) -> np.ndarray:
    """rank[a, b] = 1 for a's closest class b, ...; 0 on the diagonal and for missing classes."""
    c = len(dist)
    out = np.zeros((c, c), dtype=np.int64)
    for a in range(c):
        for r, b in enumerate(ranked_others(dist, a), start=1):
            out[a, b] = r
    return out


def ranking_table(dist: np.ndarray, classes: list[str]) -> pd.DataFrame:
    rows = []
    for a in range(len(classes)):
        for r, b in enumerate(ranked_others(dist, a), start=1):
            rows.append({"class": classes[a], "rank": r, "other": classes[b], "distance": float(dist[a, b])})
    return pd.DataFrame(rows, columns=["class", "rank", "other", "distance"])
