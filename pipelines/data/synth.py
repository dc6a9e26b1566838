"""The embedded default data set: a small ImageNet-layout JPEG tree that a network can learn.

Each class has its own shape, hue and stripe texture, so accuracy rises above chance within a few
epochs; each image draws its size around ImageNet's mean (469x387), its position, scale, lighting
and noise from a generator seeded by (seed, split, class, index), so the same seed gives the same
bytes. A few files come in the odd formats ImageNet holds behind a `.JPEG` name (CMYK JPEG,
grayscale JPEG, PNG) so that every decoder meets them.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from pipelines.errors import UserInputError
from pipelines.settings import setting
from pipelines.outputs import writable_folder

IMAGENET_MEAN_SIZE = (469, 387)  # width, height
SHAPES = ("ellipse", "rectangle", "triangle", "cross", "ring", "diamond")
ODD_FORMATS = ("cmyk", "grayscale", "png")
MARKER = "synth.json"


@dataclass(frozen=True)
class SynthSpec:
    classes: int = setting(10, "Classes (wnids).")
    train_per_class: int = setting(100, "Training images per class.")
    val_per_class: int = setting(20, "Validation images per class.")
    seed: int = setting(0, "The same seed gives the same bytes.")
    odd_every: int = 40  # every n-th image of a split is written in one of ODD_FORMATS

    def validate(self) -> None:
        for name in ("classes", "train_per_class", "val_per_class"):
            if getattr(self, name) < 1:
                raise UserInputError(f"--{name.replace('_', '-')} must be at least 1")
        if self.seed < 0:
            raise UserInputError("--seed must be 0 or more")
        if self.odd_every < 0:
            raise UserInputError("odd_every must be 0 (none) or positive")


def wnid(class_index: int) -> str:
    """ImageNet-style synset ids that sort in class order."""
    return f"n9{class_index:07d}"


def _class_style(class_index: int) -> dict:
    hue = (class_index * 0.618034) % 1.0
    return {
        "shape": SHAPES[class_index % len(SHAPES)],
        "rgb": _hue_to_rgb(hue),
        "stripe_period": 8 + 6 * (class_index % 5),
        "stripe_angle": np.pi * ((class_index * 0.37) % 1.0),
    }


def _hue_to_rgb(hue: float) -> tuple[int, int, int]:
    k = (np.array([5.0, 3.0, 1.0]) + hue * 6.0) % 6.0
    rgb = 1.0 - np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return tuple(int(40 + 200 * c) for c in rgb)


def render_image(class_index: int, rng: np.random.Generator) -> Image.Image:
    """One RGB image of the class, with its size scattered around ImageNet's mean."""
    style = _class_style(class_index)
    width = int(np.clip(rng.normal(IMAGENET_MEAN_SIZE[0], 70), 240, 800))
    height = int(np.clip(rng.normal(IMAGENET_MEAN_SIZE[1], 55), 200, 700))

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = style["stripe_angle"] + rng.normal(0, 0.1)
    wave = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / style["stripe_period"])
    base = (rng.uniform(80, 160) + rng.normal(0, 8, size=3)).astype(np.float32)  # greyish: hue is the class's
    pixels = base + 35.0 * wave[..., None] + rng.normal(0, 12, size=(height, width, 1))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")

    size = rng.uniform(0.3, 0.6) * min(width, height)
    cx, cy = rng.uniform(size / 2, width - size / 2), rng.uniform(size / 2, height - size / 2)
    colour = tuple(int(np.clip(c + rng.normal(0, 15), 0, 255)) for c in style["rgb"])
    _draw_shape(ImageDraw.Draw(image), style["shape"], cx, cy, size / 2, colour)
    return image


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, colour) -> None:
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "ellipse":
        draw.ellipse(box, fill=colour)
    elif shape == "rectangle":
        draw.rectangle((cx - r, cy - 0.6 * r, cx + r, cy + 0.6 * r), fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    elif shape == "cross":
        draw.rectangle((cx - r, cy - 0.25 * r, cx + r, cy + 0.25 * r), fill=colour)
        draw.rectangle((cx - 0.25 * r, cy - r, cx + 0.25 * r, cy + r), fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(3, int(0.3 * r)))
    else:  # diamond
        draw.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=colour)


def encode(image: Image.Image, fmt: str | None) -> bytes:
    """JPEG bytes, or one of ImageNet's odd formats that still sits behind a `.JPEG` name."""
    out = io.BytesIO()
    if fmt is None:
        image.save(out, "JPEG", quality=90)
    elif fmt == "cmyk":
        image.convert("CMYK").save(out, "JPEG", quality=90)
    elif fmt == "grayscale":
        image.convert("L").save(out, "JPEG", quality=90)
    elif fmt == "png":
        image.save(out, "PNG", compress_level=1)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return out.getvalue()


def _odd_format(spec: SynthSpec, position: int) -> str | None:
    if spec.odd_every and position % spec.odd_every == spec.odd_every - 1:
        return ODD_FORMATS[(position // spec.odd_every) % len(ODD_FORMATS)]
    return None


def _marker(out: Path) -> dict | None:
    try:
        return json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None


PARTIAL_MARKER = ".lth-harness-synth-partial"  # what makes a leftover OUT.partial ours to remove


def _fresh_partial(out: Path) -> Path:
    """An empty OUT.partial to build in; one left by an interrupted build is removed, anyone else's refused."""
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        if not (partial / PARTIAL_MARKER).is_file():
            raise UserInputError(f"{partial} exists and was not left by `harness data synth`: "
                                 "move it away (this command builds there) or choose another OUT")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    (partial / PARTIAL_MARKER).touch()
    return partial


def build(out: Path, spec: SynthSpec, progress: Callable[[int, int], None] | None = None) -> bool:
    """Write the data set to `out`; returns False when an identical one is already there.

    The tree is built under a temporary sibling and renamed into place, so `out` is either absent,
    or complete with its `synth.json` marker.
    """
    spec.validate()
    out = Path(out)
    if out.is_dir() and _marker(out) == asdict(spec):
        return False
    writable_folder(out, "OUT")
    if out.exists():
        raise UserInputError(
            f"{out} already exists and is not a synthetic data set with these parameters: "
            "choose another folder or remove it"
        )
    partial = _fresh_partial(out)
    splits = {"train": spec.train_per_class, "val": spec.val_per_class}
    total = spec.classes * sum(splits.values())
    done = 0
    for split_id, (split, per_class) in enumerate(splits.items()):
        for position in range(spec.classes * per_class):
            class_index, index = position % spec.classes, position // spec.classes
            rng = np.random.default_rng([spec.seed, split_id, class_index, index])
            data = encode(render_image(class_index, rng), _odd_format(spec, position))
            folder = partial / split / wnid(class_index)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{wnid(class_index)}_{index}.JPEG").write_bytes(data)
            done += 1
            if progress:
                progress(done, total)
    (partial / MARKER).write_text(json.dumps(asdict(spec), indent=2) + "\n")
    (partial / PARTIAL_MARKER).unlink()
    partial.rename(out)
    return True
