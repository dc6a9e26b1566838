"""A small real data set for the lottery-ticket search: scikit-learn's handwritten digits as an
ImageNet-layout folder (train/ and val/, one folder per class, 32 px JPEGs).

The 1,797 8x8 digits (UCI, 10 classes) come from scikit-learn's wheel, which pip downloads from the
package index (no other network); a seeded permutation puts 359 in val and 1,438 in train. Synthetic
data (`harness data synth`) is too easy or too noisy to tell a ticket from the recipe; these are
real strokes, small enough for a search on two cores.

    python benchmarks/lth/digits.py OUT    (make data/digits)
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

VAL_IMAGES, SIZE, SEED = 359, 32, 0


def digits_csv() -> bytes:
    """sklearn/datasets/data/digits.csv.gz, read out of scikit-learn's wheel."""
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "scikit-learn", "-d", folder], check=True)
        wheel = next(Path(folder).glob("scikit_learn-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            return gzip.decompress(archive.read("sklearn/datasets/data/digits.csv.gz"))


def write_folder(rows: np.ndarray, out: Path) -> None:
    images, labels = rows[:, :64].reshape(-1, 8, 8), rows[:, 64].astype(int)
    for position, index in enumerate(np.random.default_rng(SEED).permutation(len(labels))):
        wnid = f"n{80000000 + labels[index]:08d}"
        folder = out / ("val" if position < VAL_IMAGES else "train") / wnid
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (images[index] / 16 * 255).astype(np.uint8)
        Image.fromarray(pixels).resize((SIZE, SIZE), Image.BICUBIC).convert("RGB") \
            .save(folder / f"{wnid}_{index}.JPEG", quality=95)


def main(out: str) -> None:
    target = Path(out)
    if target.exists():
        sys.exit(f"error: {target} exists: remove it or name another folder")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        sys.exit(f"error: {partial} is left from an interrupted run: remove it first")
    rows = np.loadtxt(digits_csv().decode().splitlines(), delimiter=",")
    write_folder(rows, partial)
    partial.rename(target)
    print(f"wrote {len(rows) - VAL_IMAGES} train and {VAL_IMAGES} val digits to {target}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/lth/digits.py OUT")
    main(sys.argv[1])
