"""Synthetic photo-album dataset: a taxonomy, rendered images, clean truth and noisy labels.

The generator stands in for a real album dataset in the demo, the tests and the benchmarks.
It draws a truth label set for every image from a small album-like model (8 categories,
33 labels, a long tail of frequencies, correlated labels), renders each present label as
a distinctive motif a small CNN can learn at 64-96 px, and writes the labels twice: the
clean truth, closed under parent and ``implies``, and a noisy copy with a requested share
of positives dropped and of images given one false label.

Everything is derived from ``numpy.random.default_rng([seed, index, stream])``, so a seed
gives byte-identical files, image ``i`` does not depend on how many images are generated,
and the noise rates change only the noisy labels, never the images or the truth.

Command line (``python -m training synth ...``)::

    synth --out DIR --images N --seed S [--missing-rate P] [--wrong-rate Q] [--image-size PX]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

__all__ = [
    "LABELS",
    "RELATIONS",
    "LabelSpec",
    "SynthError",
    "SynthSummary",
    "closure",
    "generate",
    "main",
    "taxonomy",
]

Progress = Callable[[int, int], None]
Colour = tuple[int, int, int]


class SynthError(ValueError):
    """Bad arguments or an output folder the generator refuses to write into."""


@dataclass(frozen=True)
class LabelSpec:
    """One label of the synthetic taxonomy, as written to ``taxonomy.json``."""

    key: str
    name_en: str
    name_zh: str
    parent: str | None
    guideline: str
    small_object: bool = False


def _root(key: str, en: str, zh: str, guideline: str) -> LabelSpec:
    return LabelSpec(key, en, zh, None, guideline)


# Parents before children; the order is also the column order of every label list written.
LABELS: tuple[LabelSpec, ...] = (
    _root(
        "people",
        "People",
        "人物",
        "Any person is visible, whole or in part. Statues and posters of people do not count.",
    ),
    _root(
        "animal",
        "Animal",
        "动物",
        "A real or depicted animal is a subject of the photo. Toys and animal prints do not count.",
    ),
    _root(
        "scene",
        "Scene",
        "场景",
        "The photo shows a recognisable setting. Close-ups with no visible surroundings do not.",
    ),
    _root(
        "food",
        "Food",
        "美食",
        "Food or drink is a subject of the photo. Packaging with no food in sight does not count.",
    ),
    _root(
        "document",
        "Document",
        "文档",
        "Not a camera photo of the world: screenshots, paper documents, codes and artwork "
        "(drawings, cartoons). A photo that merely contains some text does not count.",
    ),
    _root(
        "vehicle",
        "Vehicle",
        "交通工具",
        "A vehicle is a subject of the photo. Traffic far in the background does not count.",
    ),
    _root(
        "plant",
        "Plant",
        "植物",
        "A plant is a subject or a clear part of the scene. Plant patterns on fabric do not count.",
    ),
    _root("event", "Event", "活动", "The photo records an occasion. Everyday moments with no occasion do not count."),
    LabelSpec(
        "portrait",
        "Portrait",
        "人像",
        "people",
        "One or two people are the subject, faces clearly visible. Crowds and group photos are **group photo**.",
    ),
    LabelSpec(
        "group_photo",
        "Group photo",
        "合影",
        "people",
        "Three or more people pose together. A crowd in which nobody poses does not count.",
    ),
    LabelSpec(
        "glasses",
        "Glasses",
        "眼镜",
        "people",
        "Someone wears glasses or sunglasses, however small in the frame. Glasses lying on a table do not count.",
        small_object=True,
    ),
    LabelSpec(
        "cat",
        "Cat",
        "猫",
        "animal",
        "A domestic cat of any breed, including kittens. Big cats (lions, tigers) do not count.",
    ),
    LabelSpec(
        "fold_eared_cat",
        "Scottish fold cat",
        "折耳猫",
        "cat",
        "A cat whose ears fold forward and down. Tag **cat** too; a cat with its ears merely flattened does not count.",
    ),
    LabelSpec(
        "dog", "Dog", "狗", "animal", "A domestic dog of any breed, including puppies. Wolves and foxes do not count."
    ),
    LabelSpec(
        "bird",
        "Bird",
        "鸟",
        "animal",
        "A bird, perched or in flight. Feathers alone or a drawn bird logo do not count.",
    ),
    LabelSpec(
        "outdoor",
        "Outdoor",
        "户外",
        "scene",
        "Taken outside, under the open sky. A view through a window from inside is **indoor**.",
    ),
    LabelSpec(
        "indoor",
        "Indoor",
        "室内",
        "scene",
        "Taken inside a room or a building. Never together with **outdoor**; covered terraces count as outdoor.",
    ),
    LabelSpec(
        "beach", "Beach", "海滩", "scene", "Sand or pebbles by the sea or a lake. A swimming pool does not count."
    ),
    LabelSpec(
        "forest",
        "Forest",
        "森林",
        "scene",
        "Many trees fill the scene (woods, jungle). One or two trees in a park are **tree** only.",
    ),
    LabelSpec(
        "night",
        "Night scene",
        "夜景",
        "scene",
        "An outdoor scene after dark. A dim room at night is **indoor**, not night.",
    ),
    LabelSpec("cake", "Cake", "蛋糕", "food", "A cake or a slice of cake. Bread and cookies do not count."),
    LabelSpec(
        "fruit",
        "Fruit",
        "水果",
        "food",
        "Fresh fruit, whole or cut. Fruit juice and fruit-flavoured sweets do not count.",
    ),
    LabelSpec(
        "screenshot",
        "Screenshot",
        "截图",
        "document",
        "A capture of a phone or computer screen. A camera photo of a screen does not count.",
    ),
    LabelSpec(
        "receipt",
        "Receipt",
        "票据",
        "document",
        "A shop receipt, bill or ticket stub fills much of the frame. Other printed pages do not count.",
    ),
    LabelSpec(
        "qr_code",
        "QR code",
        "二维码",
        "document",
        "A QR code is visible, however small. Plain barcodes do not count.",
        small_object=True,
    ),
    LabelSpec(
        "drawing",
        "Drawing",
        "绘画",
        "document",
        "Hand-made artwork: pencil, ink, paint or digital painting. May also be a **cartoon**; photos with a filter do not count.",
    ),
    LabelSpec(
        "cartoon",
        "Cartoon",
        "卡通",
        "document",
        "Cartoon or comic style: flat colours, bold outlines, speech bubbles. May also be a **drawing**.",
    ),
    LabelSpec("car", "Car", "汽车", "vehicle", "A car, van or SUV. Buses, trucks and toy cars do not count."),
    LabelSpec("bicycle", "Bicycle", "自行车", "vehicle", "A bicycle, ridden or parked. Motorbikes do not count."),
    LabelSpec(
        "tree",
        "Tree",
        "树",
        "plant",
        "At least one tree is clearly visible. Potted house plants and bushes do not count.",
    ),
    LabelSpec(
        "flower",
        "Flower",
        "花",
        "plant",
        "Flowers in bloom, growing or in a vase. Artificial flower prints do not count.",
    ),
    LabelSpec(
        "birthday",
        "Birthday",
        "生日",
        "event",
        "A birthday party: balloons, bunting, a birthday cake. A cake alone on a table is only **cake**.",
    ),
    LabelSpec(
        "fireworks",
        "Fireworks",
        "烟花",
        "event",
        "Fireworks bursting in the sky. Sparklers held in the hand do not count.",
    ),
)

# (kind, src, dst). Parent links are not relations: fold_eared_cat is a child of cat.
RELATIONS: tuple[tuple[str, str, str], ...] = (
    ("implies", "forest", "tree"),
    ("implies", "forest", "outdoor"),
    ("implies", "beach", "outdoor"),
    ("implies", "night", "outdoor"),
    ("excludes", "indoor", "outdoor"),
    ("excludes", "portrait", "group_photo"),
    ("overlaps", "drawing", "cartoon"),
)

KEYS: tuple[str, ...] = tuple(spec.key for spec in LABELS)
_PARENT: dict[str, str | None] = {spec.key: spec.parent for spec in LABELS}
_ORDER: dict[str, int] = {key: i for i, key in enumerate(KEYS)}
_LEAFISH: tuple[str, ...] = tuple(spec.key for spec in LABELS if spec.parent is not None)

# Plausible annotator mistakes: a false label is taken from the partners of a true label.
_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "cat": ("dog", "fold_eared_cat"),
    "fold_eared_cat": ("dog",),
    "dog": ("cat",),
    "bird": ("cat",),
    "portrait": ("group_photo",),
    "group_photo": ("portrait",),
    "outdoor": ("indoor",),
    "indoor": ("outdoor",),
    "tree": ("forest",),
    "forest": ("night",),
    "drawing": ("cartoon",),
    "cartoon": ("drawing",),
    "flower": ("fruit",),
    "fruit": ("flower", "cake"),
    "cake": ("birthday",),
    "car": ("bicycle",),
    "bicycle": ("car",),
    "screenshot": ("receipt", "qr_code"),
    "receipt": ("screenshot", "qr_code"),
    "night": ("fireworks",),
    "fireworks": ("night", "birthday"),
}
_CONFUSION_SHARE = 0.6  # the rest of the false labels are drawn uniformly from all leaf-ish labels

_TRUTH, _NOISE, _SPLIT = 0, 1, 2  # rng streams
_VAL_EVERY = 10  # ~9:1 train/val
_README_MARK = "LabelLoop synthetic photo-album dataset"
_IMAGE_NAME = re.compile(r"^\d+\.jpg$")


def taxonomy() -> dict[str, list[dict[str, object]]]:
    """Return the taxonomy as written to ``taxonomy.json`` (DESIGN.md format plus two fields)."""
    return {
        "labels": [
            {
                "key": s.key,
                "name_en": s.name_en,
                "name_zh": s.name_zh,
                "parent": s.parent,
                "small_object": s.small_object,
                "guideline": s.guideline,
            }
            for s in LABELS
        ],
        "relations": [{"kind": kind, "src": src, "dst": dst} for kind, src, dst in RELATIONS],
    }


def closure(labels: Iterable[str]) -> list[str]:
    """Expand labels through ancestors and ``implies`` relations, in taxonomy order."""
    implies: dict[str, list[str]] = {}
    for kind, src, dst in RELATIONS:
        if kind == "implies":
            implies.setdefault(src, []).append(dst)
    todo = list(labels)
    seen: set[str] = set()
    while todo:
        key = todo.pop()
        if key in seen:
            continue
        seen.add(key)
        parent = _PARENT[key]
        if parent is not None:
            todo.append(parent)
        todo.extend(implies.get(key, ()))
    return sorted(seen, key=_ORDER.__getitem__)


# --------------------------------------------------------------------------- truth


def _sample_truth(rng: np.random.Generator) -> set[str]:
    """Draw the leaf-level truth of one image; prevalences give a long tail (~38% .. ~0.7%)."""
    u = rng.random
    truth: set[str] = set()
    if u() < 0.07:  # a document image: nothing else in it
        truth.add("screenshot" if u() < 0.72 else "receipt")
        if u() < 0.11:
            truth.add("qr_code")
        return truth
    r = u()
    if r < 0.42:
        truth.add("outdoor")
        r = u()
        if r < 0.12:
            truth.add("beach")
        elif r < 0.22:
            truth.add("forest")
        elif r < 0.28:
            truth.add("night")
    elif r < 0.62:
        truth.add("indoor")
    outdoor = "outdoor" in truth
    r = u()
    if r < 0.30:
        truth.add("portrait")
    elif r < 0.40:
        truth.add("group_photo")
    if truth & {"portrait", "group_photo"} and u() < 0.15:
        truth.add("glasses")
    if u() < 0.10:
        truth.add("cat")
        if u() < 0.11:
            truth.add("fold_eared_cat")
    if u() < 0.08:
        truth.add("dog")
    if u() < (0.06 if outdoor else 0.01):
        truth.add("bird")
    if u() < (0.12 if outdoor else 0.03):
        truth.add("car")
    if u() < (0.04 if outdoor else 0.005):
        truth.add("bicycle")
    if "forest" not in truth and u() < (0.22 if outdoor else 0.02):
        truth.add("tree")
    if u() < 0.07:
        truth.add("flower")
    if u() < 0.04:
        truth.add("fruit")
    if u() < 0.025:
        truth.add("birthday")
    if u() < (0.65 if "birthday" in truth else 0.03):
        truth.add("cake")
    if u() < 0.01:
        truth.add("fireworks")
        if "indoor" not in truth and u() < 0.85:
            truth.difference_update({"beach", "forest"})
            truth.update({"outdoor", "night"})
    r = u()
    if r < 0.02:
        truth.add("drawing")
    elif r < 0.03:
        truth.update({"drawing", "cartoon"})  # the overlap: neither contains the other
    elif r < 0.043:
        truth.add("cartoon")
    return truth


def _inject_noise(
    rng: np.random.Generator, clean: list[str], missing_rate: float, wrong_rate: float
) -> tuple[list[str], str | None]:
    """Drop each clean positive with ``missing_rate``; with ``wrong_rate`` add one false leaf-ish label.

    Returns the noisy labels in taxonomy order and the false label added, if any.
    """
    kept = [key for key in clean if rng.random() >= missing_rate]
    wrong: str | None = None
    if rng.random() < wrong_rate:
        truth = set(clean)
        partners = sorted({p for key in clean for p in _CONFUSIONS.get(key, ()) if p not in truth}, key=_ORDER.get)
        if partners and rng.random() < _CONFUSION_SHARE:
            wrong = partners[int(rng.integers(len(partners)))]
        else:
            pool = [key for key in _LEAFISH if key not in truth]
            wrong = pool[int(rng.integers(len(pool)))]
        kept = sorted([*kept, wrong], key=_ORDER.__getitem__)
    return kept, wrong


# --------------------------------------------------------------------------- rendering


class _Canvas:
    """A square image being painted; coordinates are fractions of the side unless noted."""

    def __init__(self, image: Image.Image, rng: np.random.Generator) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.size = image.width
        self.rng = rng
        self.line = max(1, round(image.width / 48))
        self.spots: list[tuple[float, float]] = []

    def px(self, v: float) -> float:
        return v * self.size

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def colour(self, base: Colour, jitter: int = 18) -> Colour:
        j = self.rng.integers(-jitter, jitter + 1, size=3)
        return (
            int(np.clip(base[0] + j[0], 0, 255)),
            int(np.clip(base[1] + j[1], 0, 255)),
            int(np.clip(base[2] + j[2], 0, 255)),
        )

    def pick(self, options: Sequence[Colour], jitter: int = 18) -> Colour:
        return self.colour(options[int(self.rng.integers(len(options)))], jitter)

    def spot(self, y_lo: float, y_hi: float, x_lo: float = 0.22, x_hi: float = 0.78) -> tuple[float, float]:
        """A centre in pixels, kept apart from earlier ones when a few tries allow it."""
        best, best_d = (0.0, 0.0), -1.0
        for _ in range(6):
            x, y = self.px(self.u(x_lo, x_hi)), self.px(self.u(y_lo, y_hi))
            d = min((abs(x - a) + abs(y - b) for a, b in self.spots), default=1e9)
            if d > best_d:
                best, best_d = (x, y), d
            if d > 0.35 * self.size:
                break
        self.spots.append(best)
        return best

    def disc(self, x: float, y: float, r: float, fill: Colour, outline: Colour | None = None, width: int = 1) -> None:
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=outline, width=width)

    def ring(self, x: float, y: float, r: float, fill: Colour, width: int) -> None:
        self.draw.ellipse((x - r, y - r, x + r, y + r), outline=fill, width=width)


def _vertical(size: int, stops: Sequence[tuple[float, Colour]]) -> np.ndarray:
    """A vertical gradient through colour stops at fractions of the height."""
    ys = np.linspace(0.0, 1.0, size)
    pos = [p for p, _ in stops]
    column = np.stack([np.interp(ys, pos, [c[k] for _, c in stops]) for k in range(3)], axis=1)
    return np.repeat(column[:, None, :], size, axis=1)


def _background(truth: set[str], rng: np.random.Generator, size: int) -> Image.Image:
    """Scene labels decide the background; images with no scene get a muted random colour."""

    def jit(c: Colour, j: int = 16) -> Colour:
        d = rng.integers(-j, j + 1, size=3)
        return (int(c[0] + d[0]), int(c[1] + d[1]), int(c[2] + d[2]))

    horizon = float(rng.uniform(0.45, 0.65))
    if truth & {"screenshot", "receipt"}:
        stops = [(0.0, jit((96, 70, 50))), (1.0, jit((70, 50, 36)))]  # a table; the document covers most of it
    elif "night" in truth:
        stops = [
            (0.0, jit((8, 10, 40), 8)),
            (horizon, jit((30, 34, 80), 8)),
            (horizon + 0.01, (20, 22, 24)),
            (1.0, (10, 10, 12)),
        ]
    elif "beach" in truth:
        sea = horizon - 0.1
        stops = [
            (0.0, jit((120, 180, 240))),
            (sea, jit((200, 230, 250))),
            (sea + 0.01, jit((30, 100, 170))),
            (horizon, jit((40, 130, 190))),
            (horizon + 0.01, jit((235, 210, 150))),
            (1.0, jit((215, 185, 120))),
        ]
    elif "forest" in truth:
        stops = [
            (0.0, jit((150, 190, 210))),
            (horizon, jit((190, 215, 220))),
            (horizon + 0.01, jit((30, 80, 35))),
            (1.0, (20, 55, 25)),
        ]
    elif "outdoor" in truth:
        stops = [
            (0.0, jit((90, 160, 235))),
            (horizon, jit((190, 220, 245))),
            (horizon + 0.01, jit((90, 165, 70))),
            (1.0, jit((60, 120, 45))),
        ]
    elif "indoor" in truth:
        wall, floor = jit((215, 195, 160), 20), jit((130, 90, 60), 20)
        stops = [(0.0, wall), (horizon + 0.1, wall), (horizon + 0.11, floor), (1.0, floor)]
    else:
        g = int(rng.integers(90, 200))
        stops = [(0.0, jit((g, g, g), 24)), (1.0, jit((g, g, g), 24))]
    return Image.fromarray(np.clip(_vertical(size, stops), 0, 255).astype(np.uint8), "RGB")


def _scenery(c: _Canvas, truth: set[str]) -> None:
    """Props that belong to the scene: stars and moon, waves, an indoor picture frame."""
    s = c.size
    if "night" in truth:
        for _ in range(int(c.rng.integers(6, 14))):
            c.draw.point((c.px(c.u(0, 1)), c.px(c.u(0, 0.4))), fill=(255, 255, 230))
        c.disc(c.px(c.u(0.12, 0.88)), c.px(c.u(0.08, 0.2)), s * 0.07, (245, 240, 190))
    elif "indoor" in truth:
        x, y, w = c.px(c.u(0.1, 0.6)), c.px(c.u(0.06, 0.2)), c.px(c.u(0.2, 0.3))
        c.draw.rectangle(
            (x, y, x + w, y + w * 0.75),
            fill=c.pick([(120, 150, 200), (200, 120, 110)]),
            outline=(90, 60, 30),
            width=c.line * 2,
        )
    elif "beach" in truth:
        y = c.px(c.u(0.35, 0.5))
        c.draw.line((0, y, s, y), fill=(240, 245, 250), width=c.line)


def _clutter(c: _Canvas) -> None:
    """Label-free grey shapes so a motif is never alone on a clean background."""
    for _ in range(int(c.rng.integers(1, 4))):
        g = int(c.rng.integers(60, 200))
        x, y, r = c.px(c.u(0, 1)), c.px(c.u(0, 1)), c.px(c.u(0.03, 0.12))
        if c.rng.random() < 0.5:
            c.draw.rectangle((x - r, y - r * 0.6, x + r, y + r * 0.6), fill=(g, g, g + 6))
        else:
            c.disc(x, y, r, (g + 6, g, g))


def _tree(c: _Canvas, x: float, base: float, h: float, dark: bool) -> None:
    trunk = (95, 60, 30) if not dark else (70, 45, 25)
    leaf = c.colour((35, 110, 40) if dark else (60, 150, 50), 20)
    c.draw.rectangle((x - h * 0.06, base - h * 0.45, x + h * 0.06, base), fill=trunk)
    r = h * 0.28
    for dx, dy in ((-0.55, 0.0), (0.55, 0.0), (0.0, -0.5)):
        c.disc(x + dx * r, base - h * 0.62 + dy * r, r, leaf)


def _forest(c: _Canvas) -> None:
    n = int(c.rng.integers(5, 8))
    for k in range(n):
        x = c.px((k + c.u(0.1, 0.9)) / n)
        _tree(c, x, c.px(c.u(0.62, 0.75)), c.px(c.u(0.35, 0.55)), dark=True)


def _face(c: _Canvas, x: float, y: float, r: float) -> tuple[float, float, float]:
    """A head and shoulders; returns (eye y, eye dx, head r) for glasses."""
    skin = c.pick([(240, 200, 170), (200, 150, 110), (140, 95, 65)], 12)
    shirt = c.pick([(200, 40, 40), (40, 80, 200), (240, 240, 240), (40, 140, 80), (30, 30, 30)], 20)
    c.draw.ellipse((x - 1.7 * r, y + 0.85 * r, x + 1.7 * r, y + 3.0 * r), fill=shirt)
    c.disc(x, y, r, skin)
    c.draw.chord((x - r, y - r, x + r, y + r), 190, 350, fill=c.pick([(40, 25, 15), (90, 60, 30), (20, 20, 20)], 10))
    eye_y, eye_dx = y + 0.05 * r, 0.38 * r
    e = max(1.0, 0.1 * r)
    for sx in (-1, 1):
        c.disc(x + sx * eye_dx, eye_y, e, (25, 20, 20))
    c.draw.arc((x - 0.4 * r, y + 0.2 * r, x + 0.4 * r, y + 0.65 * r), 20, 160, fill=(150, 50, 50), width=max(1, c.line))
    return eye_y, eye_dx, r


def _glasses(c: _Canvas, x: float, eye_y: float, eye_dx: float, head_r: float) -> None:
    ring = max(2.5, 0.3 * head_r)
    width = max(1, round(ring / 3))
    frame = c.pick([(10, 10, 10), (120, 20, 20)], 10)
    for sx in (-1, 1):
        c.ring(x + sx * eye_dx, eye_y, ring, frame, width)
    c.draw.line((x - eye_dx + ring, eye_y, x + eye_dx - ring, eye_y), fill=frame, width=width)


def _people(c: _Canvas, truth: set[str]) -> None:
    faces: list[tuple[float, float, float, float]] = []
    if "portrait" in truth:
        x, y = c.spot(0.3, 0.45, 0.35, 0.65)
        faces.append((x, *_face(c, x, y, c.px(c.u(0.16, 0.22)))))
    elif "group_photo" in truth:
        n = int(c.rng.integers(3, 6))
        r, y = c.px(c.u(0.07, 0.09)), c.px(c.u(0.35, 0.5))
        c.spots.append((c.size / 2, y))
        for k in range(n):
            x = c.px((k + 0.5) / n * 0.84 + 0.08)
            faces.append((x, *_face(c, x, y + c.px(c.u(-0.04, 0.04)), r)))
    if "glasses" in truth and faces:
        _glasses(c, *faces[int(c.rng.integers(len(faces)))])


def _cat(c: _Canvas, folded: bool) -> None:
    x, y = c.spot(0.45, 0.7)
    r = c.px(c.u(0.1, 0.14))
    fur = c.pick([(225, 140, 60), (150, 150, 160), (235, 215, 175)], 15)
    dark = (fur[0] * 2 // 3, fur[1] * 2 // 3, fur[2] * 2 // 3)
    c.draw.ellipse((x - 1.1 * r, y + 0.5 * r, x + 1.1 * r, y + 1.9 * r), fill=fur)
    if not folded:
        for sx in (-1, 1):
            c.draw.polygon(
                [(x + sx * 0.95 * r, y - 0.3 * r), (x + sx * 0.7 * r, y - 1.45 * r), (x + sx * 0.15 * r, y - 0.85 * r)],
                fill=fur,
            )
    c.disc(x, y, r, fur)
    if folded:  # ears folded forward and down, with a light fold line: the visual refinement of cat
        for sx in (-1, 1):
            c.draw.polygon(
                [(x + sx * 0.85 * r, y - 0.75 * r), (x + sx * 0.2 * r, y - 1.05 * r), (x + sx * 0.5 * r, y - 0.35 * r)],
                fill=dark,
            )
            c.draw.line(
                (x + sx * 0.75 * r, y - 0.7 * r, x + sx * 0.3 * r, y - 0.9 * r), fill=(120, 220, 255), width=c.line
            )
    for sx in (-1, 1):
        ex = x + sx * 0.4 * r
        c.draw.ellipse((ex - 0.17 * r, y - 0.25 * r, ex + 0.17 * r, y + 0.1 * r), fill=(70, 200, 70))
        c.draw.line((ex, y - 0.2 * r, ex, y + 0.05 * r), fill=(0, 0, 0), width=1)
        for dy in (-0.05, 0.15):
            c.draw.line(
                (x + sx * 0.25 * r, y + 0.35 * r, x + sx * 1.3 * r, y + (0.3 + dy) * r), fill=(250, 250, 250), width=1
            )
    c.draw.polygon([(x - 0.12 * r, y + 0.2 * r), (x + 0.12 * r, y + 0.2 * r), (x, y + 0.35 * r)], fill=(240, 120, 150))


def _dog(c: _Canvas) -> None:
    x, y = c.spot(0.45, 0.7)
    r = c.px(c.u(0.1, 0.14))
    fur = c.pick([(150, 95, 45), (210, 175, 120), (60, 45, 35)], 15)
    ear = (fur[0] // 2, fur[1] // 2, fur[2] // 2)
    c.draw.ellipse((x - 1.2 * r, y + 0.5 * r, x + 1.2 * r, y + 1.9 * r), fill=fur)
    c.disc(x, y, r, fur)
    for sx in (-1, 1):
        c.draw.ellipse((x + sx * 0.75 * r - 0.3 * r, y - 0.7 * r, x + sx * 0.75 * r + 0.3 * r, y + 0.75 * r), fill=ear)
        c.disc(x + sx * 0.35 * r, y - 0.2 * r, max(1.0, 0.1 * r), (15, 10, 5))
    c.draw.ellipse((x - 0.45 * r, y + 0.05 * r, x + 0.45 * r, y + 0.7 * r), fill=(235, 220, 200))
    c.draw.ellipse((x - 0.2 * r, y + 0.1 * r, x + 0.2 * r, y + 0.35 * r), fill=(10, 10, 10))
    c.draw.ellipse((x - 0.12 * r, y + 0.5 * r, x + 0.12 * r, y + 0.85 * r), fill=(230, 90, 110))


def _bird(c: _Canvas) -> None:
    x, y = c.spot(0.12, 0.35, 0.15, 0.85)
    r = c.px(c.u(0.05, 0.075))
    body = c.pick([(40, 90, 220), (220, 40, 40), (240, 200, 30)], 15)
    sx = 1 if c.rng.random() < 0.5 else -1
    c.draw.ellipse((x - 1.3 * r, y - 0.7 * r, x + 1.3 * r, y + 0.7 * r), fill=body)
    c.disc(x + sx * 1.1 * r, y - 0.6 * r, 0.55 * r, body)
    c.draw.polygon(
        [(x + sx * 1.6 * r, y - 0.75 * r), (x + sx * 2.3 * r, y - 0.55 * r), (x + sx * 1.6 * r, y - 0.35 * r)],
        fill=(255, 150, 0),
    )
    c.draw.polygon(
        [(x - sx * 0.6 * r, y), (x + sx * 0.4 * r, y - 0.1 * r), (x - sx * 0.3 * r, y - 1.4 * r)],
        fill=(body[0] // 2, body[1] // 2, body[2] // 2),
    )


def _car(c: _Canvas) -> None:
    x, y = c.spot(0.6, 0.8)
    w = c.px(c.u(0.22, 0.3))
    body = c.pick([(210, 30, 30), (30, 70, 200), (240, 200, 20), (240, 240, 240)], 15)
    c.draw.polygon(
        [
            (x - 0.55 * w, y - 0.25 * w),
            (x - 0.35 * w, y - 0.6 * w),
            (x + 0.35 * w, y - 0.6 * w),
            (x + 0.6 * w, y - 0.25 * w),
        ],
        fill=body,
    )
    c.draw.rectangle((x - 0.28 * w, y - 0.52 * w, x - 0.03 * w, y - 0.28 * w), fill=(170, 215, 240))
    c.draw.rectangle((x + 0.03 * w, y - 0.52 * w, x + 0.28 * w, y - 0.28 * w), fill=(170, 215, 240))
    c.draw.rounded_rectangle((x - w, y - 0.3 * w, x + w, y + 0.15 * w), radius=0.12 * w, fill=body)
    c.disc(x + 0.9 * w, y - 0.12 * w, 0.07 * w, (255, 240, 140))
    for sx in (-0.55, 0.55):
        c.disc(x + sx * w, y + 0.15 * w, 0.22 * w, (20, 20, 20))
        c.disc(x + sx * w, y + 0.15 * w, 0.09 * w, (170, 170, 170))


def _bicycle(c: _Canvas) -> None:
    x, y = c.spot(0.58, 0.75)
    r = c.px(c.u(0.12, 0.16))
    frame = c.pick([(30, 160, 200), (220, 60, 150), (250, 120, 20)], 15)
    w = max(1, c.line)
    back, front = (x - 1.15 * r, y), (x + 1.15 * r, y)
    seat, head, crank = (x - 0.35 * r, y - 1.1 * r), (x + 0.8 * r, y - 1.1 * r), (x, y)
    for cx, cy in (back, front):
        c.ring(cx, cy, r, (20, 20, 20), w + 1)
    c.draw.line([back, seat, crank, back], fill=frame, width=w + 1)
    c.draw.line([seat, head, crank], fill=frame, width=w + 1)
    c.draw.line([head, front], fill=frame, width=w + 1)
    c.draw.line(
        (seat[0] - 0.25 * r, seat[1] - 0.15 * r, seat[0] + 0.25 * r, seat[1] - 0.15 * r), fill=(20, 20, 20), width=w + 1
    )
    c.draw.line((head[0], head[1], head[0] + 0.3 * r, head[1] - 0.35 * r), fill=(20, 20, 20), width=w + 1)


def _cake(c: _Canvas) -> None:
    x, y = c.spot(0.55, 0.75)
    w = c.px(c.u(0.16, 0.22))
    icing = c.pick([(245, 170, 200), (250, 250, 245), (120, 70, 40)], 12)
    c.draw.rectangle((x - 1.2 * w, y + 0.45 * w, x + 1.2 * w, y + 0.55 * w), fill=(235, 235, 235))
    c.draw.rectangle((x - w, y - 0.1 * w, x + w, y + 0.45 * w), fill=icing)
    c.draw.rectangle((x - 0.7 * w, y - 0.55 * w, x + 0.7 * w, y - 0.1 * w), fill=(250, 235, 215))
    for k in range(7):
        c.disc(x - w + k * w / 3, y - 0.1 * w, 0.12 * w, (230, 60, 90))
    for k in range(int(c.rng.integers(2, 5))):
        cx = x - 0.5 * w + k * 0.33 * w
        c.draw.rectangle(
            (cx - 0.04 * w, y - 0.9 * w, cx + 0.04 * w, y - 0.55 * w),
            fill=c.pick([(60, 120, 230), (240, 240, 80), (230, 80, 200)]),
        )
        c.disc(cx, y - 0.98 * w, 0.08 * w, (255, 170, 20))


def _fruit(c: _Canvas) -> None:
    x, y = c.spot(0.5, 0.75)
    r = c.px(c.u(0.05, 0.07))
    c.draw.chord(
        (x - 3.2 * r, y - 1.5 * r, x + 3.2 * r, y + 2.0 * r), 0, 180, fill=c.pick([(250, 250, 250), (140, 90, 40)])
    )
    for k in range(int(c.rng.integers(3, 6))):
        fx, fy = x + (k - 2) * 1.2 * r + c.u(-0.2, 0.2) * r, y - c.u(0.0, 0.6) * r
        c.disc(fx, fy, r, c.pick([(220, 30, 30), (250, 150, 20), (130, 200, 50)]))
        c.draw.line((fx, fy - r, fx + 0.2 * r, fy - 1.4 * r), fill=(90, 60, 20), width=1)
        c.draw.ellipse((fx + 0.2 * r, fy - 1.5 * r, fx + 0.9 * r, fy - 1.1 * r), fill=(40, 160, 40))


def _flower(c: _Canvas) -> None:
    petal = c.pick([(240, 110, 170), (170, 90, 220), (230, 40, 60), (250, 250, 250)], 15)
    for _ in range(int(c.rng.integers(1, 4))):
        x, y = c.spot(0.35, 0.7)
        r = c.px(c.u(0.04, 0.06))
        c.draw.line((x, y, x + c.u(-0.5, 0.5) * r, y + 4 * r), fill=(40, 140, 40), width=max(1, c.line))
        for k in range(6):
            a = k * math.pi / 3
            c.disc(x + 1.1 * r * math.cos(a), y + 1.1 * r * math.sin(a), 0.75 * r, petal)
        c.disc(x, y, 0.6 * r, (250, 210, 30))


def _balloons(c: _Canvas) -> None:
    s = c.size
    flags = [(230, 40, 40), (40, 90, 220), (250, 200, 30), (40, 170, 80)]
    n = 7
    for k in range(n):
        x0 = s * k / n
        c.draw.polygon([(x0, 0), (x0 + s / n, 0), (x0 + s / (2 * n), s * 0.1)], fill=flags[k % 4])
    x, y = c.spot(0.2, 0.35, 0.2, 0.8)
    r = c.px(c.u(0.05, 0.07))
    for k in range(int(c.rng.integers(2, 5))):
        bx, by = x + (k - 1.5) * 1.6 * r, y + c.u(-0.5, 0.5) * r
        c.draw.line((bx, by + 1.3 * r, bx + c.u(-1, 1) * r, by + 4.5 * r), fill=(230, 230, 230), width=1)
        c.draw.ellipse((bx - r, by - 1.3 * r, bx + r, by + 1.3 * r), fill=c.pick(flags))
        c.disc(bx - 0.35 * r, by - 0.5 * r, 0.2 * r, (255, 255, 255))


def _fireworks(c: _Canvas) -> None:
    for _ in range(int(c.rng.integers(1, 4))):
        x, y = c.px(c.u(0.15, 0.85)), c.px(c.u(0.12, 0.42))
        r = c.px(c.u(0.08, 0.15))
        colour = c.pick([(255, 80, 80), (255, 220, 60), (100, 255, 120), (120, 180, 255), (255, 120, 255)], 20)
        rays = int(c.rng.integers(12, 18))
        for k in range(rays):
            a = 2 * math.pi * k / rays
            ex, ey = x + r * math.cos(a), y + r * math.sin(a)
            c.draw.line((x + 0.3 * r * math.cos(a), y + 0.3 * r * math.sin(a), ex, ey), fill=colour, width=1)
            c.disc(ex, ey, max(1.0, 0.06 * r), (255, 255, 230))


def _screenshot(c: _Canvas) -> tuple[float, float]:
    s = c.size
    m = c.px(c.u(0.0, 0.06))
    left, right = m + c.px(0.12), s - m - c.px(0.12)
    c.draw.rectangle((left, m, right, s - m), fill=(248, 248, 250))
    c.draw.rectangle((left, m, right, m + c.px(0.05)), fill=(20, 20, 20))
    brand = c.pick([(30, 130, 240), (20, 180, 90), (230, 60, 60), (250, 150, 0)], 20)
    c.draw.rectangle((left, m + c.px(0.05), right, m + c.px(0.16)), fill=brand)
    row = c.px(0.14)
    top = m + c.px(0.2)
    while top + row < s - m - c.px(0.1):
        c.draw.rectangle(
            (left + c.px(0.03), top, left + c.px(0.03) + row * 0.7, top + row * 0.7),
            fill=c.pick([brand, (200, 200, 200)]),
        )
        tx = left + c.px(0.05) + row * 0.7
        c.draw.line(
            (tx, top + row * 0.15, right - c.px(0.05), top + row * 0.15), fill=(60, 60, 60), width=max(1, c.line)
        )
        c.draw.line(
            (tx, top + row * 0.5, tx + (right - tx) * c.u(0.3, 0.8), top + row * 0.5),
            fill=(160, 160, 160),
            width=max(1, c.line),
        )
        top += row
    c.draw.rectangle((left, s - m - c.px(0.08), right, s - m), fill=(230, 230, 235))
    return right - c.px(0.18), s - m - c.px(0.3)


def _receipt(c: _Canvas) -> tuple[float, float]:
    x = c.px(c.u(0.3, 0.7))
    w = c.px(c.u(0.2, 0.24))
    top, bottom = c.px(c.u(0.02, 0.08)), c.px(c.u(0.85, 0.95))
    c.draw.rectangle((x - w, top, x + w, bottom), fill=(250, 250, 240))
    teeth = 6
    c.draw.polygon(
        [
            (x - w + 2 * w * k / teeth + (w / teeth if k % 2 else 0), bottom + (c.px(0.03) if k % 2 else 0))
            for k in range(teeth + 1)
        ],
        fill=(250, 250, 240),
    )
    y = top + c.px(0.06)
    while y < bottom - c.px(0.06):
        c.draw.line((x - 0.8 * w, y, x - 0.8 * w + w * c.u(0.4, 1.0), y), fill=(40, 40, 40), width=1)
        c.draw.line((x + 0.5 * w, y, x + 0.8 * w, y), fill=(40, 40, 40), width=1)
        y += max(3.0, c.px(0.05))
    return x, bottom - c.px(0.2)


def _qr(c: _Canvas, at: tuple[float, float] | None) -> None:
    x, y = at if at is not None else c.spot(0.3, 0.7)
    n = 9
    cell = max(1.0, c.px(c.u(0.018, 0.024)))
    half = cell * (n + 2) / 2
    c.draw.rectangle((x - half, y - half, x + half, y + half), fill=(255, 255, 255))
    bits = c.rng.random((n, n)) < 0.5
    x0, y0 = x - half + cell, y - half + cell
    for i in range(n):
        for j in range(n):
            if bits[i, j]:
                c.draw.rectangle(
                    (x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1, y0 + (i + 1) * cell - 1), fill=(0, 0, 0)
                )
    for fx, fy in ((0, 0), (n - 3, 0), (0, n - 3)):
        a, b = x0 + fx * cell, y0 + fy * cell
        c.draw.rectangle((a, b, a + 3 * cell - 1, b + 3 * cell - 1), fill=(0, 0, 0))
        c.draw.rectangle((a + cell, b + cell, a + 2 * cell - 1, b + 2 * cell - 1), fill=(255, 255, 255))


def _as_cartoon(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Flat posterised colours, bold black outlines and a speech bubble."""
    edges = (
        img.convert("L")
        .filter(ImageFilter.FIND_EDGES)
        .point(lambda v: 255 if v > 40 else 0)
        .filter(ImageFilter.MaxFilter(3))
    )
    out = ImageOps.posterize(img, 2)
    out.paste((0, 0, 0), mask=edges)
    s = img.width
    d = ImageDraw.Draw(out)
    x, y, w = float(rng.uniform(0.1, 0.5)) * s, float(rng.uniform(0.05, 0.3)) * s, float(rng.uniform(0.3, 0.4)) * s
    d.polygon(
        [(x + 0.2 * w, y + 0.3 * w), (x + 0.45 * w, y + 0.3 * w), (x + 0.1 * w, y + 0.6 * w)],
        fill=(255, 255, 255),
        outline=(0, 0, 0),
    )
    d.ellipse((x, y, x + w, y + 0.45 * w), fill=(255, 255, 255), outline=(0, 0, 0), width=max(1, s // 48))
    return out


def _as_drawing(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Pencil lines on cream paper, faded colour and diagonal hatching."""
    s = img.width
    sketch = ImageOps.invert(img.convert("L").filter(ImageFilter.FIND_EDGES)).convert("RGB")
    paper = ImageChops.multiply(Image.new("RGB", img.size, (245, 238, 220)), sketch)
    out = Image.blend(img, paper, float(rng.uniform(0.6, 0.75)))
    d = ImageDraw.Draw(out)
    step = max(4, s // 12)
    g = int(rng.integers(90, 130))
    for k in range(-s, s, step):
        d.line((k, s, k + s, 0), fill=(g, g, g), width=1)
    return out


def _add_noise(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Exposure jitter and sensor-like Gaussian noise."""
    arr = np.asarray(img, dtype=np.float32)
    gain, offset, sigma = rng.uniform(0.8, 1.15), rng.uniform(-18, 18), rng.uniform(3, 12)
    arr = arr * gain + offset + rng.normal(0.0, sigma, size=arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def render(truth: set[str], rng: np.random.Generator, size: int) -> Image.Image:
    """Paint one image whose visible motifs are exactly the leaf labels in ``truth``."""
    c = _Canvas(_background(truth, rng, size), rng)
    _scenery(c, truth)
    _clutter(c)
    anchor: tuple[float, float] | None = None
    if "screenshot" in truth:
        anchor = _screenshot(c)
    elif "receipt" in truth:
        anchor = _receipt(c)
    if "forest" in truth:
        _forest(c)
    if "tree" in truth and "forest" not in truth:
        for _ in range(int(rng.integers(1, 3))):
            x, y = c.spot(0.5, 0.7, 0.1, 0.9)
            _tree(c, x, y + c.px(0.15), c.px(c.u(0.35, 0.5)), dark=False)
    if "fireworks" in truth:
        _fireworks(c)
    if "birthday" in truth:
        _balloons(c)
    painters: list[tuple[str, Callable[[], None]]] = [
        ("car", lambda: _car(c)),
        ("bicycle", lambda: _bicycle(c)),
        ("flower", lambda: _flower(c)),
        ("fruit", lambda: _fruit(c)),
        ("cake", lambda: _cake(c)),
        ("dog", lambda: _dog(c)),
        ("cat", lambda: _cat(c, folded="fold_eared_cat" in truth)),
    ]
    for key, paint in painters:
        if key in truth:
            paint()
    _people(c, truth)
    if "bird" in truth:
        _bird(c)
    if "qr_code" in truth:
        _qr(c, anchor)
    img = c.image
    if "cartoon" in truth:
        img = _as_cartoon(img, rng)
    if "drawing" in truth:
        img = _as_drawing(img, rng)
    return _add_noise(img, rng)


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class SynthSummary:
    """What ``generate`` wrote: sizes, label statistics and the noise actually injected."""

    out: Path
    images: int
    labels: int
    positives: int
    mean_labels_per_image: float
    mean_noisy_labels_per_image: float
    missing_injected: int
    wrong_injected: int
    train: int
    val: int
    clean_counts: dict[str, int]
    noisy_counts: dict[str, int]
    noisy_manifest_counts: dict[str, int]

    def lines(self) -> list[str]:
        """A few human-readable lines, as printed by the command line."""
        pct = 100.0 * self.missing_injected / max(1, self.positives)
        return [
            f"images: {self.images} ({self.train} train, {self.val} val) in {self.out}",
            f"labels: {self.labels} in taxonomy, {sum(1 for v in self.clean_counts.values() if v)} present",
            f"mean labels per image: {self.mean_labels_per_image:.2f} clean, {self.mean_noisy_labels_per_image:.2f} noisy",
            f"injected missing: {self.missing_injected} of {self.positives} positives ({pct:.1f}%)",
            f"injected wrong: {self.wrong_injected} images ({100.0 * self.wrong_injected / max(1, self.images):.1f}%)",
        ]


def _prepare_out(out: Path) -> Path:
    """Create ``out/images``; refuse a non-empty folder unless it holds an earlier synth output."""
    images_dir = out / "images"
    if out.exists():
        if not out.is_dir():
            raise SynthError(f"--out {out}: exists and is not a directory")
        if any(out.iterdir()):
            readme = out / "README.txt"
            if not readme.is_file() or not readme.read_text(encoding="utf-8").startswith(_README_MARK):
                raise SynthError(
                    f"--out {out}: directory is not empty and holds no earlier synth output; refusing to write"
                )
            if images_dir.is_dir():  # a smaller re-run must not leave stale images behind
                for path in images_dir.iterdir():
                    if _IMAGE_NAME.match(path.name):
                        path.unlink()
    images_dir.mkdir(parents=True, exist_ok=True)
    return images_dir


def _split(clean: list[list[str]], seed: int) -> list[str]:
    """~9:1 split stratified on each image's rarest clean label, so rare labels reach val too."""
    counts = Counter(key for labels in clean for key in labels)
    groups: dict[str, list[int]] = {}
    for i, labels in enumerate(clean):
        rarest = min(labels, key=lambda k: (counts[k], _ORDER[k])) if labels else ""
        groups.setdefault(rarest, []).append(i)
    rng = np.random.default_rng([seed, 0, _SPLIT])
    split = ["train"] * len(clean)
    for key in sorted(groups, key=lambda k: _ORDER.get(k, -1)):
        members = groups[key]
        offset = int(rng.integers(_VAL_EVERY))
        for pos, idx in enumerate(rng.permutation(len(members))):
            if (pos + offset) % _VAL_EVERY == 0:
                split[members[int(idx)]] = "val"
    return split


def _write_csv(path: Path, names: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["image", "labels"])
        writer.writerows([name, "|".join(labels)] for name, labels in zip(names, rows, strict=True))


def _write_manifest(path: Path, names: list[str], rows: list[list[str]], split: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for name, labels, part in zip(names, rows, split, strict=True):
            fh.write(json.dumps({"image": name, "labels": labels, "split": part}, ensure_ascii=False) + "\n")


def _write_readme(
    path: Path, summary: SynthSummary, seed: int, missing_rate: float, wrong_rate: float, size: int
) -> None:
    width = max(len(k) for k in KEYS)
    rows = [
        f"  {k:<{width}}  {summary.clean_counts[k]:>7}  {summary.noisy_counts[k]:>7}  {summary.noisy_manifest_counts[k]:>7}"
        for k in KEYS
    ]
    text = [
        f"{_README_MARK} (training/synth.py)",
        "",
        f"seed {seed}, {summary.images} images of {size}x{size} px, missing rate {missing_rate}, wrong rate {wrong_rate}.",
        "",
        "Each image is drawn from an album-like label model (8 categories, a long tail of label",
        "frequencies, correlated labels) and every present label is painted as its own motif:",
        "scenes as backgrounds, objects as shapes, glasses and QR codes small, fold-eared cats as",
        "cats with folded ears, forests as many trees, drawing and cartoon as style overlays.",
        "",
        "Files:",
        "  images/               the JPEG images",
        "  taxonomy.json         labels (parents first) and relations (implies / excludes / overlaps)",
        "  labels_clean.csv      image,labels - the truth, closed under parent and implies",
        "  labels.csv            image,labels - the noisy labels an importer would get",
        "  manifest_clean.jsonl  truth, closed, with a seeded ~9:1 train/val split",
        "  manifest.jsonl        noisy labels closed under parent and implies, same split",
        "",
        "Noise injected into labels.csv (relative to labels_clean.csv):",
        f"  missing: {summary.missing_injected} of {summary.positives} clean positives dropped",
        f"  wrong:   {summary.wrong_injected} of {summary.images} images given one false label",
        f"  mean labels per image: {summary.mean_labels_per_image:.2f} clean, {summary.mean_noisy_labels_per_image:.2f} noisy",
        "",
        f"Images per label:\n  {'label':<{width}}  {'clean':>7}  {'noisy':>7}  {'closed':>7}",
        *rows,
        "",
    ]
    path.write_text("\n".join(text), encoding="utf-8")


def _check_args(images: int, seed: int, missing_rate: float, wrong_rate: float, image_size: int) -> None:
    if images < 1:
        raise SynthError(f"--images {images}: must be at least 1")
    if seed < 0:
        raise SynthError(f"--seed {seed}: must be zero or positive")
    for name, rate in (("--missing-rate", missing_rate), ("--wrong-rate", wrong_rate)):
        if not 0.0 <= rate <= 1.0:
            raise SynthError(f"{name} {rate}: must be between 0 and 1")
    if not 16 <= image_size <= 2048:
        raise SynthError(f"--image-size {image_size}: must be between 16 and 2048")


def generate(
    out: Path,
    *,
    images: int,
    seed: int,
    missing_rate: float = 0.1,
    wrong_rate: float = 0.05,
    image_size: int = 96,
    progress: Progress | None = None,
) -> SynthSummary:
    """Render ``images`` images into ``out`` and write the taxonomy, clean and noisy labels, manifests and README.

    ``progress(done, total)`` is called every 100 images and at the end. Raises ``SynthError``
    for bad arguments or an ``out`` that is non-empty and not an earlier synth output.
    """
    _check_args(images, seed, missing_rate, wrong_rate, image_size)
    out = Path(out)
    images_dir = _prepare_out(out)
    digits = max(6, len(str(images - 1)))
    names: list[str] = []
    clean_rows: list[list[str]] = []
    noisy_rows: list[list[str]] = []
    missing = wrong = 0
    for i in range(images):
        rng = np.random.default_rng([seed, i, _TRUTH])
        truth = _sample_truth(rng)
        name = f"{i:0{digits}d}.jpg"
        render(truth, rng, image_size).save(images_dir / name, "JPEG", quality=90)
        clean = closure(truth)
        noisy, false_label = _inject_noise(np.random.default_rng([seed, i, _NOISE]), clean, missing_rate, wrong_rate)
        missing += len(set(clean) - set(noisy))
        wrong += false_label is not None
        names.append(name)
        clean_rows.append(clean)
        noisy_rows.append(noisy)
        if progress is not None and ((i + 1) % 100 == 0 or i + 1 == images):
            progress(i + 1, images)

    split = _split(clean_rows, seed)
    noisy_closed = [closure(row) for row in noisy_rows]
    (out / "taxonomy.json").write_text(json.dumps(taxonomy(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    _write_csv(out / "labels_clean.csv", names, clean_rows)
    _write_csv(out / "labels.csv", names, noisy_rows)
    _write_manifest(out / "manifest_clean.jsonl", names, clean_rows, split)
    _write_manifest(out / "manifest.jsonl", names, noisy_closed, split)

    def count(rows: list[list[str]]) -> dict[str, int]:
        c = Counter(key for row in rows for key in row)
        return {key: c[key] for key in KEYS}

    positives = sum(len(row) for row in clean_rows)
    summary = SynthSummary(
        out=out,
        images=images,
        labels=len(LABELS),
        positives=positives,
        mean_labels_per_image=positives / images,
        mean_noisy_labels_per_image=sum(len(row) for row in noisy_rows) / images,
        missing_injected=missing,
        wrong_injected=wrong,
        train=split.count("train"),
        val=split.count("val"),
        clean_counts=count(clean_rows),
        noisy_counts=count(noisy_rows),
        noisy_manifest_counts=count(noisy_closed),
    )
    _write_readme(out / "README.txt", summary, seed, missing_rate, wrong_rate, image_size)
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training synth", description="Render the synthetic photo-album dataset."
    )
    p.add_argument(
        "--out", type=Path, required=True, help="output directory (created; an earlier synth output is replaced)"
    )
    p.add_argument("--images", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, required=True, help="random seed; the same seed gives byte-identical files")
    p.add_argument("--missing-rate", type=float, default=0.1, help="share of clean positives dropped (default 0.1)")
    p.add_argument(
        "--wrong-rate", type=float, default=0.05, help="share of images given one false label (default 0.05)"
    )
    p.add_argument("--image-size", type=int, default=96, help="side of the square images in pixels (default 96)")
    return p


def main(argv: list[str]) -> int:
    """Command line entry: ``synth --out DIR --images N --seed S [...]``; returns the exit status."""
    args_in = list(argv)
    if args_in[:1] == ["synth"]:
        args_in = args_in[1:]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as exc:  # argparse already printed the usage error or the help
        return int(exc.code or 0)

    def report(done: int, total: int) -> None:
        if done == total or done % 1000 == 0:
            sys.stderr.write(f"synth: {done}/{total} images\n")

    try:
        summary = generate(
            args.out,
            images=args.images,
            seed=args.seed,
            missing_rate=args.missing_rate,
            wrong_rate=args.wrong_rate,
            image_size=args.image_size,
            progress=report,
        )
    except SynthError as exc:
        sys.stderr.write(f"synth: error: {exc}\n")
        return 2
    sys.stdout.write("\n".join(summary.lines()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
