"""Class-level scene distances (HAT): average per-video descriptors per class, L1 between classes."""

from __future__ import annotations

import numpy as np
import pandas as pd


def class_means(descriptors: np.ndarray, labels: np.ndarray, num_classes: int, weights: np.ndarray | None = None) -> np.ndarray:
    """[C,D]; NaN rows for classes without videos.

    With ``weights`` = each video's frame count, per-video frame means become HAT's average over all
    frames of all videos of the class (a long video counts for its frames, not as one).
    """
    d = np.asarray(descriptors, dtype=np.float64)
    w = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.full((num_classes, d.shape[1]), np.nan)
    labels = np.asarray(labels)
    for c in range(num_classes):
        sel = labels == c
        if sel.any():
            out[c] = (d[sel] * w[sel, None]).sum(axis=0) / w[sel].sum()
    return out


def top_scenes(means: np.ndarray, classes: list[str], names: list[str], k: int = 3) -> "pd.DataFrame":
    """Each class's k most likely scene categories with their mean probability: a sanity check of the ranking."""
    import pandas as pd

    rows = []
    for c, name in enumerate(classes):
        row: dict = {"class": name}
        if not np.isnan(means[c]).any():
            for j, i in enumerate(np.argsort(-means[c], kind="stable")[:k], 1):
                row[f"scene_{j}"], row[f"p_{j}"] = names[i], round(float(means[c, i]), 4)
        rows.append(row)
    return pd.DataFrame(rows, columns=["class"] + [f"{a}_{j}" for j in range(1, k + 1) for a in ("scene", "p")])


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


def spectral_order(dist: np.ndarray) -> np.ndarray:
    """Classes ordered so that similar scenes sit together (Fiedler vector of a similarity graph)."""
    c = len(dist)
    if c < 3:
        return np.arange(c)
    off = dist[~np.eye(c, dtype=bool)]
    sigma = float(np.median(off[np.isfinite(off)])) or 1.0
    w = np.exp(-np.nan_to_num(dist, nan=np.nanmax(dist)) / sigma)
    np.fill_diagonal(w, 0)
    lap = np.diag(w.sum(1)) - w
    vec = np.linalg.eigh(lap)[1][:, 1]
    if vec[np.argmax(np.abs(vec))] < 0:  # a fixed sign: the same matrix always gives the same picture
        vec = -vec
    return np.argsort(vec, kind="stable")


def heatmap_png(dist: np.ndarray, classes: list[str], cell: int | None = None) -> bytes:
    """The class-to-class scene distance matrix as a PNG, classes in spectral order, names when they fit."""
    import cv2

    order = spectral_order(dist)
    d = dist[np.ix_(order, order)]
    finite = d[np.isfinite(d)]
    hi = float(finite.max()) if finite.size else 1.0
    img = (np.clip(np.nan_to_num(d, nan=hi) / (hi or 1.0), 0, 1) * 255).astype(np.uint8)
    c = len(classes)
    cell = cell or max(2, min(24, 960 // max(c, 1)))
    img = cv2.applyColorMap(cv2.resize(img, (c * cell, c * cell), interpolation=cv2.INTER_NEAREST), cv2.COLORMAP_VIRIDIS)
    if cell >= 12:  # names fit: write them on a margin to the left
        margin = 8 + 7 * max(len(n) for n in classes)
        canvas = np.full((c * cell, margin + c * cell, 3), 255, np.uint8)
        canvas[:, margin:] = img
        for i, k in enumerate(order):
            cv2.putText(canvas, classes[k], (4, i * cell + cell - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        img = canvas
    ok, buf = cv2.imencode(".png", img)
    return buf.tobytes()


def extremes_table(dist: np.ndarray, classes: list[str], k_close: int, n_far: int = 5) -> pd.DataFrame:
    """Each class's Close classes and its farthest ones, by name: the table to read before trusting Close/Far."""
    rows = []
    for a in range(len(classes)):
        others = ranked_others(dist, a)
        rows.append({"class": classes[a],
                     "closest": "; ".join(classes[b] for b in others[:k_close]),
                     "farthest": "; ".join(classes[b] for b in others[::-1][:n_far])})
    return pd.DataFrame(rows, columns=["class", "closest", "farthest"])
