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
    "KEYS",
    "LABELS",
    "RELATIONS",
    "LabelSpec",
    "SynthError",
    "SynthSummary",
    "closure",
    "generate",
    "main",
    "render",
    "taxonomy",
]

Progress = Callable[[int, int], None]
Colour = tuple[int, int, int]
Box = tuple[float, float, float, float]


class SynthError(ValueError):
    """Bad arguments, or an output folder the generator refuses to write into."""


@dataclass(frozen=True)
class LabelSpec:
    """One label of the synthetic taxonomy, as written to ``taxonomy.json``."""

    key: str
    name_en: str
    name_zh: str
    parent: str | None
    guideline: str
    small_object: bool = False


# --------------------------------------------------------------------------- taxonomy

# key, English, Simplified Chinese, parent. Parents come before children, and this order is
# also the order of the labels in every list written.
_NAMES: tuple[tuple[str, str, str, str | None], ...] = (
    ("people", "People", "人物", None),
    ("animal", "Animal", "动物", None),
    ("scene", "Scene", "场景", None),
    ("food", "Food", "美食", None),
    ("document", "Document", "文档", None),
    ("vehicle", "Vehicle", "交通工具", None),
    ("plant", "Plant", "植物", None),
    ("event", "Event", "活动", None),
    ("portrait", "Portrait", "人像", "people"),
    ("group_photo", "Group photo", "合影", "people"),
    ("glasses", "Glasses", "眼镜", "people"),
    ("cat", "Cat", "猫", "animal"),
    ("fold_eared_cat", "Scottish fold cat", "折耳猫", "cat"),
    ("dog", "Dog", "狗", "animal"),
    ("bird", "Bird", "鸟", "animal"),
    ("outdoor", "Outdoor", "户外", "scene"),
    ("indoor", "Indoor", "室内", "scene"),
    ("beach", "Beach", "海滩", "scene"),
    ("forest", "Forest", "森林", "scene"),
    ("night", "Night scene", "夜景", "scene"),
    ("cake", "Cake", "蛋糕", "food"),
    ("fruit", "Fruit", "水果", "food"),
    ("screenshot", "Screenshot", "截图", "document"),
    ("receipt", "Receipt", "票据", "document"),
    ("qr_code", "QR code", "二维码", "document"),
    ("drawing", "Drawing", "绘画", "document"),
    ("cartoon", "Cartoon", "卡通", "document"),
    ("car", "Car", "汽车", "vehicle"),
    ("bicycle", "Bicycle", "自行车", "vehicle"),
    ("tree", "Tree", "树", "plant"),
    ("flower", "Flower", "花", "plant"),
    ("birthday", "Birthday", "生日", "event"),
    ("fireworks", "Fireworks", "烟花", "event"),
)

_GUIDELINES: dict[str, str] = {
    "people": "Any person is visible, whole or in part. Statues and posters of people do not count.",
    "animal": "A real or depicted animal is a subject of the image. Toys and animal prints do not count.",
    "scene": "The image shows a recognisable setting. Close-ups with no visible surroundings do not count.",
    "food": "Food or drink is a subject of the image. Packaging with no food in sight does not count.",
    "document": "Not a camera photo of the world: screenshots, paper documents, codes and artwork. "
    "A photo that merely contains some text does not count.",
    "vehicle": "A vehicle is a subject of the image. Traffic far in the background does not count.",
    "plant": "A plant is a subject or a clear part of the scene. Plant patterns on fabric do not count.",
    "event": "The image records an occasion. Everyday moments with no occasion do not count.",
    "portrait": "One or two people are the subject, faces clearly visible. Posed groups are **group photo**.",
    "group_photo": "Three or more people pose together. A crowd in which nobody poses does not count.",
    "glasses": "Someone wears glasses or sunglasses, however small in the frame. Glasses on a table do not count.",
    "cat": "A domestic cat of any breed, kittens included. Big cats (lions, tigers) do not count.",
    "fold_eared_cat": "A cat whose ears fold forward and down; tag **cat** too. Ears merely flattened do not count.",
    "dog": "A domestic dog of any breed, puppies included. Wolves and foxes do not count.",
    "bird": "A bird, perched or in flight. Feathers alone or a bird logo do not count.",
    "outdoor": "Taken outside, under the open sky. A view through a window from inside is **indoor**.",
    "indoor": "Taken inside a room or a building; never together with **outdoor**. Covered terraces are outdoor.",
    "beach": "Sand or pebbles by the sea or a lake. A swimming pool does not count.",
    "forest": "Many trees fill the scene (woods, jungle). One or two trees in a park are **tree** only.",
    "night": "An outdoor scene after dark. A dim room at night is **indoor**, not night.",
    "cake": "A cake or a slice of cake. Bread and cookies do not count.",
    "fruit": "Fresh fruit, whole or cut. Fruit juice and fruit-flavoured sweets do not count.",
    "screenshot": "A capture of a phone or computer screen. A camera photo of a screen does not count.",
    "receipt": "A shop receipt, bill or ticket stub fills much of the frame. Other printed pages do not count.",
    "qr_code": "A QR code is visible, however small. Plain barcodes do not count.",
    "drawing": "Hand-made artwork: pencil, ink, paint or digital painting; may also be a **cartoon**. "
    "Photos with a filter do not count.",
    "cartoon": "Cartoon or comic style: flat colours, bold outlines, speech bubbles; may also be a **drawing**.",
    "car": "A car, van or SUV. Buses, trucks and toy cars do not count.",
    "bicycle": "A bicycle, ridden or parked. Motorbikes do not count.",
    "tree": "At least one tree is clearly visible. Potted house plants and bushes do not count.",
    "flower": "Flowers in bloom, growing or in a vase. Flower prints do not count.",
    "birthday": "A birthday party: balloons, bunting, a birthday cake. A cake alone is only **cake**.",
    "fireworks": "Fireworks bursting in the sky. Sparklers held in the hand do not count.",
}

_SMALL_OBJECTS = frozenset({"glasses", "qr_code"})

LABELS: tuple[LabelSpec, ...] = tuple(
    LabelSpec(key, en, zh, parent, _GUIDELINES[key], key in _SMALL_OBJECTS) for key, en, zh, parent in _NAMES
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
_IMPLIES: dict[str, tuple[str, ...]] = {
    src: tuple(d for kind, s, d in RELATIONS if kind == "implies" and s == src) for _, src, _ in RELATIONS
}
_LEAFISH: tuple[str, ...] = tuple(spec.key for spec in LABELS if spec.parent is not None)

# Plausible annotator mistakes: most false labels are a partner of one of the true labels,
# several of them break a relation (fold_eared_cat without cat, indoor with outdoor).
_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "cat": ("dog", "fold_eared_cat"),
    "fold_eared_cat": ("dog",),
    "dog": ("cat", "fold_eared_cat"),
    "bird": ("cat",),
    "portrait": ("group_photo", "glasses"),
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
    "fireworks": ("birthday",),
}
_CONFUSION_SHARE = 0.6  # the other false labels are drawn uniformly from all leaf-ish labels

_TRUTH, _NOISE, _SPLIT = 0, 1, 2  # rng streams
_VAL_EVERY = 10  # ~9:1 train/val
_README_MARK = "LabelLoop synthetic photo-album dataset"
_IMAGE_NAME = re.compile(r"^\d+\.jpg$")


def taxonomy() -> dict[str, list[dict[str, object]]]:
    """Return the taxonomy as written to ``taxonomy.json``: DESIGN.md fields plus small_object and guideline."""
    labels: list[dict[str, object]] = [
        {
            "key": s.key,
            "name_en": s.name_en,
            "name_zh": s.name_zh,
            "parent": s.parent,
            "small_object": s.small_object,
            "guideline": s.guideline,
        }
        for s in LABELS
    ]
    relations: list[dict[str, object]] = [{"kind": k, "src": s, "dst": d} for k, s, d in RELATIONS]
    return {"labels": labels, "relations": relations}


def closure(labels: Iterable[str]) -> list[str]:
    """Expand labels through ancestors and ``implies`` relations; the result is in taxonomy order."""
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
        todo.extend(_IMPLIES.get(key, ()))
    return sorted(seen, key=_ORDER.__getitem__)


# --------------------------------------------------------------------------- truth and noise


def _sample_truth(rng: np.random.Generator) -> set[str]:
    """Draw the leaf-level truth of one image: never empty, as in an album where every image was tagged."""
    for _ in range(50):
        truth = _draw_truth(rng)
        if truth:
            break
    return truth


def _draw_truth(rng: np.random.Generator) -> set[str]:
    """One draw of the label model; the prevalences make a long tail (~40% .. ~0.8% of images)."""
    u = rng.random
    truth: set[str] = set()
    if u() < 0.07:  # a document image: nothing else in it
        truth.add("screenshot" if u() < 0.72 else "receipt")
        if u() < 0.11:
            truth.add("qr_code")
        return truth
    r = u()
    if r < 0.38:
        truth.add("outdoor")
        r = u()
        if r < 0.12:
            truth.add("beach")
        elif r < 0.22:
            truth.add("forest")
        elif r < 0.28:
            truth.add("night")
    elif r < 0.58:
        truth.add("indoor")
    outdoor = "outdoor" in truth
    r = u()
    if r < 0.30:
        truth.add("portrait")
    elif r < 0.42:
        truth.add("group_photo")
    if truth & {"portrait", "group_photo"} and u() < 0.18:
        truth.add("glasses")
    if u() < 0.10:
        truth.add("cat")
        if u() < 0.11:
            truth.add("fold_eared_cat")
    for key, p_out, p_in in (("dog", 0.08, 0.08), ("bird", 0.06, 0.01), ("car", 0.12, 0.03), ("bicycle", 0.04, 0.005)):
        if u() < (p_out if outdoor else p_in):
            truth.add(key)
    if "forest" not in truth and u() < (0.26 if outdoor else 0.02):
        truth.add("tree")
    for key, p in (("flower", 0.08), ("fruit", 0.04), ("birthday", 0.025)):
        if u() < p:
            truth.add(key)
    if u() < (0.65 if "birthday" in truth else 0.03):
        truth.add("cake")
    if "indoor" not in truth and u() < 0.011:
        truth.add("fireworks")
        if u() < 0.85:
            truth.difference_update({"beach", "forest"})
            truth.update({"outdoor", "night"})
    r = u()
    if r < 0.02:
        truth.add("drawing")
    elif r < 0.03:
        truth.update({"drawing", "cartoon"})  # the overlap: neither label contains the other
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
        partners = sorted(
            {p for key in clean for p in _CONFUSIONS.get(key, ()) if p not in truth}, key=_ORDER.__getitem__
        )
        if partners and rng.random() < _CONFUSION_SHARE:
            wrong = partners[int(rng.integers(len(partners)))]
        else:
            pool = [key for key in _LEAFISH if key not in truth]
            wrong = pool[int(rng.integers(len(pool)))]
        kept = sorted([*kept, wrong], key=_ORDER.__getitem__)
    return kept, wrong


# --------------------------------------------------------------------------- rendering


class _Canvas:
    """A square image being painted; shapes are given relative to a centre and a unit length."""

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

    def count(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def colour(self, options: Sequence[Colour], jitter: int = 18) -> Colour:
        base = options[int(self.rng.integers(len(options)))]
        j = self.rng.integers(-jitter, jitter + 1, size=3)
        return (
            min(255, max(0, base[0] + int(j[0]))),
            min(255, max(0, base[1] + int(j[1]))),
            min(255, max(0, base[2] + int(j[2]))),
        )

    def spot(self, y_lo: float, y_hi: float, x_lo: float = 0.22, x_hi: float = 0.78) -> tuple[float, float]:
        """A centre in pixels, kept away from earlier centres when a few tries allow it."""
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

    def _box(self, x: float, y: float, r: float, box: Box, sx: int = 1) -> Box:
        a, b = x + sx * box[0] * r, x + sx * box[2] * r
        return (min(a, b), y + box[1] * r, max(a, b), y + box[3] * r)

    def oval(self, x: float, y: float, r: float, box: Box, fill: Colour, sx: int = 1) -> None:
        self.draw.ellipse(self._box(x, y, r, box, sx), fill=fill)

    def rect(self, x: float, y: float, r: float, box: Box, fill: Colour, sx: int = 1) -> None:
        self.draw.rectangle(self._box(x, y, r, box, sx), fill=fill)

    def poly(self, x: float, y: float, r: float, pts: Sequence[tuple[float, float]], fill: Colour, sx: int = 1) -> None:
        self.draw.polygon([(x + sx * a * r, y + b * r) for a, b in pts], fill=fill)

    def path(
        self, x: float, y: float, r: float, pts: Sequence[tuple[float, float]], fill: Colour, width: int, sx: int = 1
    ) -> None:
        self.draw.line([(x + sx * a * r, y + b * r) for a, b in pts], fill=fill, width=width)

    def disc(self, x: float, y: float, r: float, fill: Colour) -> None:
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def ring(self, x: float, y: float, r: float, fill: Colour, width: int) -> None:
        self.draw.ellipse((x - r, y - r, x + r, y + r), outline=fill, width=width)


def _background(truth: set[str], rng: np.random.Generator, size: int) -> Image.Image:
    """Scene labels decide the background gradient; images with no scene get a muted random grey."""

    def jit(c: Colour, j: int = 16) -> Colour:
        d = rng.integers(-j, j + 1, size=3)
        return (c[0] + int(d[0]), c[1] + int(d[1]), c[2] + int(d[2]))

    h = float(rng.uniform(0.45, 0.65))  # horizon
    stops: list[tuple[float, Colour]]
    if truth & {"screenshot", "receipt"}:  # a table; the document covers most of it
        stops = [(0.0, jit((96, 70, 50))), (1.0, jit((70, 50, 36)))]
    elif "night" in truth:
        stops = [(0.0, jit((8, 10, 40), 8)), (h, jit((30, 34, 80), 8)), (h + 0.01, (20, 22, 24)), (1.0, (10, 10, 12))]
    elif "beach" in truth:
        sea, sky, water, sand = h - 0.1, jit((120, 180, 240)), jit((30, 110, 180)), jit((230, 205, 140))
        stops = [
            (0.0, sky),
            (sea, jit((200, 230, 250))),
            (sea + 0.01, water),
            (h, water),
            (h + 0.01, sand),
            (1.0, sand),
        ]
    elif "forest" in truth:
        stops = [
            (0.0, jit((150, 190, 210))),
            (h, jit((190, 215, 220))),
            (h + 0.01, jit((30, 80, 35))),
            (1, (20, 55, 25)),
        ]
    elif "outdoor" in truth:
        sky, grass = jit((90, 160, 235)), jit((80, 150, 60))
        stops = [
            (0.0, sky),
            (h, jit((190, 220, 245))),
            (h + 0.01, grass),
            (1.0, (grass[0] - 25, grass[1] - 45, grass[2] - 20)),
        ]
    elif "indoor" in truth:
        wall, floor = jit((215, 195, 160), 20), jit((130, 90, 60), 20)
        stops = [(0.0, wall), (h + 0.1, wall), (h + 0.11, floor), (1.0, floor)]
    else:
        g = int(rng.integers(90, 200))
        stops = [(0.0, jit((g, g, g), 24)), (1.0, jit((g, g, g), 24))]
    ys = np.linspace(0.0, 1.0, size)
    pos = [p for p, _ in stops]
    column = np.stack([np.interp(ys, pos, [c[k] for _, c in stops]) for k in range(3)], axis=1)
    pixels = np.repeat(np.clip(column, 0, 255).astype(np.uint8)[:, None, :], size, axis=1)
    return Image.fromarray(pixels, "RGB")


def _scenery(c: _Canvas, truth: set[str]) -> None:
    """Props that belong to a scene (stars and moon, a surf line, a picture on the wall) and label-free clutter."""
    if "night" in truth:
        for _ in range(c.count(6, 13)):
            c.draw.point((c.px(c.u(0, 1)), c.px(c.u(0, 0.4))), fill=(255, 255, 230))
        c.disc(c.px(c.u(0.12, 0.88)), c.px(c.u(0.08, 0.2)), c.px(0.07), (245, 240, 190))
    elif "indoor" in truth:
        x, y, w = c.px(c.u(0.1, 0.6)), c.px(c.u(0.06, 0.2)), c.px(c.u(0.2, 0.3))
        picture = c.colour([(120, 150, 200), (200, 120, 110)])
        c.draw.rectangle((x, y, x + w, y + w * 0.75), fill=picture, outline=(90, 60, 30), width=c.line * 2)
    elif "beach" in truth:
        y = c.px(c.u(0.35, 0.5))
        c.draw.line((0, y, c.size, y), fill=(240, 245, 250), width=c.line)
    for _ in range(c.count(1, 3)):  # grey shapes so no motif stands alone on a clean background
        g = int(c.rng.integers(60, 200))
        x, y, r = c.px(c.u(0, 1)), c.px(c.u(0, 1)), c.px(c.u(0.03, 0.12))
        if c.rng.random() < 0.5:
            c.rect(x, y, r, (-1, -0.6, 1, 0.6), (g, g, g + 6))
        else:
            c.disc(x, y, r, (g + 6, g, g))


def _tree(c: _Canvas, x: float, base: float, h: float, dark: bool) -> None:
    leaf = c.colour([(35, 110, 40) if dark else (60, 150, 50)], 20)
    c.rect(x, base, h, (-0.06, -0.45, 0.06, 0), (70, 45, 25) if dark else (95, 60, 30))
    for dx, dy in ((-0.15, -0.62), (0.15, -0.62), (0.0, -0.76)):
        c.disc(x + dx * h, base + dy * h, 0.28 * h, leaf)


def _trees(c: _Canvas, truth: set[str]) -> None:
    if "forest" in truth:  # a forest is many trees, so a tree detector fires on it too
        n = c.count(5, 7)
        for k in range(n):
            _tree(c, c.px((k + c.u(0.1, 0.9)) / n), c.px(c.u(0.62, 0.75)), c.px(c.u(0.35, 0.55)), dark=True)
    elif "tree" in truth:
        aside = bool(truth & {"portrait", "group_photo"})  # beside the people painted over it, not behind them
        for _ in range(c.count(1, 2)):
            x, y = c.spot(0.5, 0.7, 0.1, 0.9)
            if aside:
                x = c.px(c.u(0.04, 0.2) if c.rng.random() < 0.5 else c.u(0.8, 0.96))
            _tree(c, x, y + c.px(0.15), c.px(c.u(0.35, 0.5)), dark=False)


def _face(c: _Canvas, x: float, y: float, r: float, glasses: bool) -> None:
    c.oval(x, y, r, (-1.7, 0.85, 1.7, 3.0), c.colour([(200, 40, 40), (40, 80, 200), (240, 240, 240), (40, 140, 80)]))
    c.disc(x, y, r, c.colour([(240, 200, 170), (200, 150, 110), (140, 95, 65)], 12))
    hair = c.colour([(40, 25, 15), (90, 60, 30), (20, 20, 20)], 10)
    c.draw.chord((x - r, y - r, x + r, y + r), 190, 350, fill=hair)
    eye_y, eye_dx = y + 0.05 * r, 0.38 * r
    for sx in (-1, 1):
        c.disc(x + sx * eye_dx, eye_y, max(1.0, 0.1 * r), (25, 20, 20))
    c.draw.arc((x - 0.4 * r, y + 0.2 * r, x + 0.4 * r, y + 0.65 * r), 20, 160, fill=(150, 50, 50), width=c.line)
    if glasses:  # a small two-ring motif on the eyes
        ring = max(2.5, 0.3 * r)
        width = max(1, round(ring / 3))
        frame = c.colour([(10, 10, 10), (120, 20, 20)], 10)
        for sx in (-1, 1):
            c.ring(x + sx * eye_dx, eye_y, ring, frame, width)
        c.draw.line((x - eye_dx + ring, eye_y, x + eye_dx - ring, eye_y), fill=frame, width=width)


def _people(c: _Canvas, truth: set[str]) -> None:
    glasses = "glasses" in truth
    if "portrait" in truth:
        x, y = c.spot(0.3, 0.45, 0.35, 0.65)
        _face(c, x, y, c.px(c.u(0.16, 0.22)), glasses)
    elif "group_photo" in truth:
        n = c.count(3, 5)
        wearer = int(c.rng.integers(n))
        r, y = c.px(c.u(0.07, 0.09)), c.px(c.u(0.35, 0.5))
        c.spots.append((c.size / 2, y))
        for k in range(n):
            _face(c, c.px((k + 0.5) / n * 0.84 + 0.08), y + c.px(c.u(-0.04, 0.04)), r, glasses and k == wearer)


def _cat(c: _Canvas, folded: bool) -> None:
    x, y = c.spot(0.45, 0.68)
    r = c.px(c.u(0.12, 0.16))
    fur = c.colour([(225, 140, 60), (150, 150, 160), (235, 215, 175)], 15)
    stripe = (fur[0] // 2, fur[1] // 2, fur[2] // 2)
    c.path(x, y, r, [(1.0, 1.5), (1.6, 1.2), (1.7, 0.5)], fur, max(2, round(0.25 * r)))  # tail
    c.oval(x, y, r, (-1.1, 0.5, 1.1, 1.9), fur)
    for dx in (-0.5, 0.0, 0.5):  # tabby stripes on the back
        c.path(x, y, r, [(dx - 0.1, 0.7), (dx + 0.1, 1.4)], stripe, c.line)
    if not folded:
        for sx in (-1, 1):
            c.poly(x, y, r, [(0.95, -0.3), (0.7, -1.45), (0.15, -0.85)], fur, sx)
    c.disc(x, y, r, fur)
    for sx in (-1, 1):
        if folded:  # ears folded forward and down, flat dark caps with a bright fold line: a refinement of cat
            c.oval(x, y, r, (0.15, -1.15, 0.95, -0.6), stripe, sx)
            c.path(x, y, r, [(0.25, -0.82), (0.85, -0.9)], (120, 230, 255), c.line + 1, sx)
        c.oval(x, y, r, (0.2, -0.3, 0.6, 0.1), (70, 210, 70), sx)
        c.path(x, y, r, [(0.4, -0.25), (0.4, 0.05)], (0, 0, 0), c.line, sx)
        c.path(x, y, r, [(0.25, 0.35), (1.3, 0.25)], (250, 250, 250), 1, sx)
        c.path(x, y, r, [(0.25, 0.35), (1.3, 0.45)], (250, 250, 250), 1, sx)
    c.path(x, y, r, [(-0.2, -0.85), (0, -0.55), (0.2, -0.85)], stripe, c.line)  # the tabby M on the forehead
    c.poly(x, y, r, [(-0.15, 0.18), (0.15, 0.18), (0, 0.36)], (240, 120, 150))


def _dog(c: _Canvas) -> None:
    x, y = c.spot(0.45, 0.7)
    r = c.px(c.u(0.1, 0.14))
    fur = c.colour([(150, 95, 45), (210, 175, 120), (60, 45, 35)], 15)
    c.oval(x, y, r, (-1.2, 0.5, 1.2, 1.9), fur)
    c.disc(x, y, r, fur)
    for sx in (-1, 1):  # long floppy ears
        c.oval(x, y, r, (0.45, -0.7, 1.05, 0.75), (fur[0] // 2, fur[1] // 2, fur[2] // 2), sx)
        c.disc(x + sx * 0.35 * r, y - 0.2 * r, max(1.0, 0.1 * r), (15, 10, 5))
    c.oval(x, y, r, (-0.45, 0.05, 0.45, 0.7), (235, 220, 200))
    c.oval(x, y, r, (-0.2, 0.1, 0.2, 0.35), (10, 10, 10))
    c.oval(x, y, r, (-0.12, 0.5, 0.12, 0.85), (230, 90, 110))


def _bird(c: _Canvas) -> None:
    x, y = c.spot(0.12, 0.35, 0.15, 0.85)
    r = c.px(c.u(0.05, 0.075))
    body = c.colour([(40, 90, 220), (220, 40, 40), (240, 200, 30)], 15)
    sx = 1 if c.rng.random() < 0.5 else -1
    c.oval(x, y, r, (-1.3, -0.7, 1.3, 0.7), body)
    c.oval(x, y, r, (0.55, -1.15, 1.65, -0.05), body, sx)
    c.poly(x, y, r, [(1.6, -0.75), (2.3, -0.55), (1.6, -0.35)], (255, 150, 0), sx)
    c.poly(x, y, r, [(-0.6, 0.0), (0.4, -0.1), (-0.3, -1.4)], (body[0] // 2, body[1] // 2, body[2] // 2), sx)


def _car(c: _Canvas) -> None:
    x, y = c.spot(0.6, 0.8)
    w = c.px(c.u(0.22, 0.3))
    body = c.colour([(210, 30, 30), (30, 70, 200), (240, 200, 20), (240, 240, 240)], 15)
    c.poly(x, y, w, [(-0.55, -0.25), (-0.35, -0.6), (0.35, -0.6), (0.6, -0.25)], body)
    for sx in (-1, 1):
        c.rect(x, y, w, (0.03, -0.52, 0.28, -0.28), (170, 215, 240), sx)
    c.draw.rounded_rectangle((x - w, y - 0.3 * w, x + w, y + 0.15 * w), radius=0.12 * w, fill=body)
    c.disc(x + 0.9 * w, y - 0.12 * w, 0.07 * w, (255, 240, 140))
    for sx in (-1, 1):
        c.disc(x + sx * 0.55 * w, y + 0.15 * w, 0.22 * w, (20, 20, 20))
        c.disc(x + sx * 0.55 * w, y + 0.15 * w, 0.09 * w, (170, 170, 170))


def _bicycle(c: _Canvas) -> None:
    x, y = c.spot(0.58, 0.75)
    r = c.px(c.u(0.13, 0.17))
    frame = c.colour([(30, 160, 200), (220, 60, 150), (250, 120, 20)], 15)
    w = c.line + 1
    for sx in (-1, 1):
        c.ring(x + sx * 1.15 * r, y, r, (20, 20, 20), w + 1)
        c.disc(x + sx * 1.15 * r, y, 0.15 * r, (150, 150, 150))
    c.path(x, y, r, [(-1.15, 0), (-0.35, -1.1), (0, 0), (-1.15, 0)], frame, w)
    c.path(x, y, r, [(-0.35, -1.1), (0.8, -1.1), (0, 0)], frame, w)
    c.path(x, y, r, [(0.8, -1.1), (1.15, 0)], frame, w)
    c.path(x, y, r, [(-0.6, -1.25), (-0.1, -1.25)], (20, 20, 20), w)
    c.path(x, y, r, [(0.8, -1.1), (1.1, -1.45)], (20, 20, 20), w)


def _cake(c: _Canvas) -> None:
    x, y = c.spot(0.55, 0.75)
    w = c.px(c.u(0.16, 0.22))
    c.rect(x, y, w, (-1.2, 0.45, 1.2, 0.55), (235, 235, 235))
    c.rect(x, y, w, (-1, -0.1, 1, 0.45), c.colour([(245, 170, 200), (250, 250, 245), (120, 70, 40)], 12))
    c.rect(x, y, w, (-0.7, -0.55, 0.7, -0.1), (250, 235, 215))
    for k in range(7):
        c.disc(x - w + k * w / 3, y - 0.1 * w, 0.12 * w, (230, 60, 90))
    for k in range(c.count(2, 4)):  # candles
        dx = -0.5 + k * 0.33
        c.rect(x, y, w, (dx - 0.04, -0.9, dx + 0.04, -0.55), c.colour([(60, 120, 230), (240, 240, 80), (230, 80, 200)]))
        c.disc(x + dx * w, y - 0.98 * w, 0.08 * w, (255, 170, 20))


def _fruit(c: _Canvas) -> None:
    x, y = c.spot(0.5, 0.75)
    r = c.px(c.u(0.065, 0.085))
    bowl = c.colour([(250, 250, 250), (140, 90, 40)])
    c.draw.chord((x - 3.2 * r, y - 1.5 * r, x + 3.2 * r, y + 2.0 * r), 0, 180, fill=bowl)
    for k in range(c.count(3, 5)):
        fx, fy = x + (k - 2) * 1.2 * r + c.u(-0.2, 0.2) * r, y - c.u(0.0, 0.6) * r
        c.disc(fx, fy, r, c.colour([(220, 30, 30), (250, 150, 20), (130, 200, 50)]))
        c.path(fx, fy, r, [(0, -1), (0.2, -1.4)], (90, 60, 20), 1)
        c.oval(fx, fy, r, (0.2, -1.5, 0.9, -1.1), (40, 160, 40))


def _flower(c: _Canvas) -> None:
    petal = c.colour([(240, 110, 170), (170, 90, 220), (230, 40, 60), (250, 250, 250)], 15)
    for _ in range(c.count(1, 3)):
        x, y = c.spot(0.35, 0.7)
        r = c.px(c.u(0.05, 0.07))
        c.path(x, y, r, [(0, 0), (c.u(-0.5, 0.5), 4)], (40, 140, 40), c.line + 1)
        for k in range(6):
            c.disc(x + 1.1 * r * math.cos(k * math.pi / 3), y + 1.1 * r * math.sin(k * math.pi / 3), 0.75 * r, petal)
        c.disc(x, y, 0.6 * r, (250, 210, 30))


def _birthday(c: _Canvas) -> None:
    flags = [(230, 40, 40), (40, 90, 220), (250, 200, 30), (40, 170, 80)]
    step = c.size / 7
    for k in range(7):  # bunting across the top
        c.poly(k * step, 0, step, [(0, 0), (1, 0), (0.5, 0.7)], flags[k % 4])
    x, y = c.spot(0.2, 0.35, 0.2, 0.8)
    r = c.px(c.u(0.05, 0.07))
    for k in range(c.count(2, 4)):  # balloons on strings
        bx, by = x + (k - 1.5) * 1.6 * r, y + c.u(-0.5, 0.5) * r
        c.path(bx, by, r, [(0, 1.3), (c.u(-1, 1), 4.5)], (230, 230, 230), 1)
        c.oval(bx, by, r, (-1, -1.3, 1, 1.3), c.colour(flags))
        c.disc(bx - 0.35 * r, by - 0.5 * r, 0.2 * r, (255, 255, 255))


def _fireworks(c: _Canvas) -> None:
    for _ in range(c.count(1, 3)):
        x, y, r = c.px(c.u(0.15, 0.85)), c.px(c.u(0.12, 0.42)), c.px(c.u(0.08, 0.15))
        colour = c.colour([(255, 80, 80), (255, 220, 60), (100, 255, 120), (120, 180, 255), (255, 120, 255)], 20)
        rays = c.count(12, 17)
        for k in range(rays):
            dx, dy = math.cos(2 * math.pi * k / rays), math.sin(2 * math.pi * k / rays)
            c.path(x, y, r, [(0.3 * dx, 0.3 * dy), (dx, dy)], colour, 1)
            c.disc(x + r * dx, y + r * dy, max(1.0, 0.06 * r), (255, 255, 230))


def _screenshot(c: _Canvas) -> tuple[float, float]:
    """A phone screen: status bar, app bar, list rows, nav bar. Returns a spot for a QR code."""
    s, m = c.size, c.px(c.u(0.0, 0.06))
    left, right = m + c.px(0.12), s - m - c.px(0.12)
    brand = c.colour([(30, 130, 240), (20, 180, 90), (230, 60, 60), (250, 150, 0)], 20)
    c.draw.rectangle((left, m, right, s - m), fill=(248, 248, 250))
    c.draw.rectangle((left, m, right, m + c.px(0.05)), fill=(20, 20, 20))
    c.draw.rectangle((left, m + c.px(0.05), right, m + c.px(0.16)), fill=brand)
    row, top = c.px(0.14), m + c.px(0.2)
    while top + row < s - m - c.px(0.1):
        icon = left + c.px(0.03)
        c.draw.rectangle((icon, top, icon + row * 0.7, top + row * 0.7), fill=c.colour([brand, (200, 200, 200)]))
        tx, short = icon + c.px(0.02) + row * 0.7, c.u(0.3, 0.8)
        c.draw.line((tx, top + row * 0.15, right - c.px(0.05), top + row * 0.15), fill=(60, 60, 60), width=c.line)
        c.draw.line(
            (tx, top + row * 0.5, tx + (right - tx) * short, top + row * 0.5), fill=(160, 160, 160), width=c.line
        )
        top += row
    c.draw.rectangle((left, s - m - c.px(0.08), right, s - m), fill=(230, 230, 235))
    return right - c.px(0.18), s - m - c.px(0.3)


def _receipt(c: _Canvas) -> tuple[float, float]:
    """A narrow paper slip with printed lines and a torn edge. Returns a spot for a QR code."""
    x, w = c.px(c.u(0.3, 0.7)), c.px(c.u(0.2, 0.24))
    top, bottom = c.px(c.u(0.02, 0.08)), c.px(c.u(0.85, 0.95))
    paper = (250, 250, 240)
    c.draw.rectangle((x - w, top, x + w, bottom), fill=paper)
    c.poly(x - w, bottom, w / 3, [(k, 0.3 * (k % 2)) for k in range(7)], paper)
    y = top + c.px(0.06)
    while y < bottom - c.px(0.06):
        c.draw.line((x - 0.8 * w, y, x - 0.8 * w + w * c.u(0.4, 1.0), y), fill=(40, 40, 40), width=1)
        c.draw.line((x + 0.5 * w, y, x + 0.8 * w, y), fill=(40, 40, 40), width=1)
        y += max(3.0, c.px(0.05))
    return x, bottom - c.px(0.2)


def _qr(c: _Canvas, at: tuple[float, float] | None) -> None:
    """A small 9x9 code with three finder squares, on a document or loose in the picture."""
    x, y = at if at is not None else c.spot(0.3, 0.7)
    n, cell = 9, max(1.0, c.px(c.u(0.018, 0.024)))
    half = cell * (n + 2) / 2
    c.draw.rectangle((x - half, y - half, x + half, y + half), fill=(255, 255, 255))
    x0, y0 = x - half + cell, y - half + cell
    for i, j in zip(*np.nonzero(c.rng.random((n, n)) < 0.5), strict=True):
        c.draw.rectangle(
            (x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1, y0 + (i + 1) * cell - 1), fill=(0, 0, 0)
        )
    for fx, fy in ((0, 0), (n - 3, 0), (0, n - 3)):
        a, b = x0 + fx * cell, y0 + fy * cell
        c.draw.rectangle((a, b, a + 3 * cell - 1, b + 3 * cell - 1), fill=(0, 0, 0))
        c.draw.rectangle((a + cell, b + cell, a + 2 * cell - 1, b + 2 * cell - 1), fill=(255, 255, 255))


def _as_cartoon(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Flat posterised colours, bold black outlines and a speech bubble."""
    edges = img.convert("L").filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    out = ImageOps.posterize(img, 2)
    out.paste((0, 0, 0), mask=edges.filter(ImageFilter.MaxFilter(3)))
    s = img.width
    x, y, w = (float(v) * s for v in rng.uniform((0.1, 0.05, 0.3), (0.5, 0.3, 0.4)))
    d = ImageDraw.Draw(out)
    d.polygon([(x + 0.2 * w, y + 0.3 * w), (x + 0.45 * w, y + 0.3 * w), (x + 0.1 * w, y + 0.6 * w)], fill=(0, 0, 0))
    d.ellipse((x, y, x + w, y + 0.45 * w), fill=(255, 255, 255), outline=(0, 0, 0), width=max(1, s // 48))
    return out


def _as_drawing(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Pencil lines on cream paper, faded colour and diagonal hatching."""
    s = img.width
    sketch = ImageOps.invert(img.convert("L").filter(ImageFilter.FIND_EDGES)).convert("RGB")
    paper = ImageChops.multiply(Image.new("RGB", img.size, (245, 238, 220)), sketch)
    out = Image.blend(img, paper, float(rng.uniform(0.6, 0.75)))
    d = ImageDraw.Draw(out)
    g = int(rng.integers(90, 130))
    for k in range(-s, s, max(4, s // 12)):
        d.line((k, s, k + s, 0), fill=(g, g, g), width=1)
    return out


def render(truth: set[str], rng: np.random.Generator, size: int) -> Image.Image:
    """Paint one ``size``-pixel square image showing a motif for every label in ``truth``."""
    c = _Canvas(_background(truth, rng, size), rng)
    _scenery(c, truth)
    anchor: tuple[float, float] | None = None
    if "screenshot" in truth:
        anchor = _screenshot(c)
    elif "receipt" in truth:
        anchor = _receipt(c)
    _trees(c, truth)
    if "fireworks" in truth:
        _fireworks(c)
    if "birthday" in truth:
        _birthday(c)
    _people(c, truth)  # before the objects: a cat in front of a person is seen, the reverse would hide it
    painters: tuple[tuple[str, Callable[[_Canvas], None]], ...] = (
        ("car", _car),
        ("bicycle", _bicycle),
        ("flower", _flower),
        ("fruit", _fruit),
        ("cake", _cake),
        ("dog", _dog),
    )
    for key, paint in painters:
        if key in truth:
            paint(c)
    if "cat" in truth:
        _cat(c, folded="fold_eared_cat" in truth)
    if "bird" in truth:
        _bird(c)
    if "qr_code" in truth:
        _qr(c, anchor)
    img = c.image
    if "cartoon" in truth:
        img = _as_cartoon(img, rng)
    if "drawing" in truth:
        img = _as_drawing(img, rng)
    # exposure jitter and sensor-like noise, so no label is readable from a single pixel value
    gain, offset, sigma = rng.uniform(0.8, 1.15), rng.uniform(-18, 18), rng.uniform(3, 12)
    arr = np.asarray(img, dtype=np.float32) * gain + offset
    arr += rng.normal(0.0, sigma, size=arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


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
    noisy_closed_counts: dict[str, int]

    def lines(self) -> list[str]:
        """A few human-readable lines, as printed by the command line."""
        missing_pct = 100.0 * self.missing_injected / max(1, self.positives)
        wrong_pct = 100.0 * self.wrong_injected / max(1, self.images)
        present = sum(1 for v in self.clean_counts.values() if v)
        return [
            f"images: {self.images} ({self.train} train, {self.val} val) in {self.out}",
            f"labels: {self.labels} in the taxonomy, {present} present",
            f"mean labels per image: {self.mean_labels_per_image:.2f} clean, "
            f"{self.mean_noisy_labels_per_image:.2f} noisy",
            f"injected missing: {self.missing_injected} of {self.positives} clean positives ({missing_pct:.1f}%)",
            f"injected wrong: {self.wrong_injected} images with one false label ({wrong_pct:.1f}%)",
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
                raise SynthError(f"--out {out}: not empty and not an earlier synth output; refusing to write there")
            if images_dir.is_dir():  # a smaller re-run must not leave stale images behind
                for path in images_dir.iterdir():
                    if _IMAGE_NAME.match(path.name):
                        path.unlink()
    images_dir.mkdir(parents=True, exist_ok=True)
    return images_dir


def _split(clean: list[list[str]], seed: int) -> list[str]:
    """~9:1 split, stratified on each image's rarest clean label so that rare labels reach val too."""
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


def _readme(summary: SynthSummary, seed: int, missing_rate: float, wrong_rate: float, size: int) -> str:
    w = max(len(k) for k in KEYS)
    counts = [
        f"  {k:<{w}}  {summary.clean_counts[k]:>7}  {summary.noisy_counts[k]:>7}  {summary.noisy_closed_counts[k]:>7}"
        for k in KEYS
    ]
    text = [
        f"{_README_MARK}, made by training/synth.py",
        "",
        f"seed {seed}; {summary.images} images of {size}x{size} px; "
        f"missing rate {missing_rate}; wrong rate {wrong_rate}.",
        "",
        "Each image's truth is drawn from an album-like label model (8 categories, a long tail of",
        "label frequencies, correlated labels) and every true label is painted as its own motif:",
        "scenes as backgrounds, objects as shapes, glasses and QR codes small, a fold-eared cat as",
        "a cat with folded ears, a forest as many trees, drawing and cartoon as style overlays.",
        "",
        "images/               the JPEG images",
        "taxonomy.json         labels (parents first, with guidelines) and relations",
        "labels_clean.csv      image,labels: the truth, closed under parent and implies",
        "labels.csv            image,labels: the noisy labels an importer gets",
        "manifest_clean.jsonl  the truth, closed, with a seeded ~9:1 train/val split",
        "manifest.jsonl        the noisy labels closed under parent and implies, same split",
        "",
        "Noise injected into labels.csv, relative to labels_clean.csv:",
        f"  missing: {summary.missing_injected} of {summary.positives} clean positives dropped",
        f"  wrong:   {summary.wrong_injected} of {summary.images} images given one false label",
        f"  mean labels per image: {summary.mean_labels_per_image:.2f} clean, "
        f"{summary.mean_noisy_labels_per_image:.2f} noisy",
        "",
        "Images per label (clean truth; noisy labels.csv; noisy closed as in manifest.jsonl):",
        f"  {'label':<{w}}  {'clean':>7}  {'noisy':>7}  {'closed':>7}",
        *counts,
        "",
    ]
    return "\n".join(text)


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
    """Render ``images`` images into ``out/images`` and write taxonomy, labels, manifests and README.

    ``progress(done, total)`` is called every 100 images and at the end. Raises ``SynthError``
    for bad arguments, or for an ``out`` that is not empty and not an earlier synth output
    (an earlier output is replaced, its images removed first).
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
        names.append(f"{i:0{digits}d}.jpg")
        render(truth, rng, image_size).save(images_dir / names[-1], "JPEG", quality=90)
        clean = closure(truth)
        noisy, false_label = _inject_noise(np.random.default_rng([seed, i, _NOISE]), clean, missing_rate, wrong_rate)
        missing += len(set(clean) - set(noisy))
        wrong += false_label is not None
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

    def per_label(rows: list[list[str]]) -> dict[str, int]:
        found = Counter(key for row in rows for key in row)
        return {key: found[key] for key in KEYS}

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
        clean_counts=per_label(clean_rows),
        noisy_counts=per_label(noisy_rows),
        noisy_closed_counts=per_label(noisy_closed),
    )
    (out / "README.txt").write_text(_readme(summary, seed, missing_rate, wrong_rate, image_size), encoding="utf-8")
    return summary


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training synth", description="Render the synthetic album dataset.")
    p.add_argument("--out", type=Path, required=True, help="output folder; an earlier synth output is replaced")
    p.add_argument("--images", type=int, required=True, help="number of images")
    p.add_argument("--seed", type=int, required=True, help="random seed; a seed gives byte-identical files")
    p.add_argument("--missing-rate", type=float, default=0.1, help="share of clean positives dropped (0.1)")
    p.add_argument("--wrong-rate", type=float, default=0.05, help="share of images given one false label (0.05)")
    p.add_argument("--image-size", type=int, default=96, help="side of the square images in pixels (96)")
    return p


def main(argv: list[str]) -> int:
    """Command line: ``synth --out DIR --images N --seed S [...]``; prints a summary, returns the exit status."""
    args_in = list(argv)
    if args_in[:1] == ["synth"]:
        args_in = args_in[1:]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as exc:  # argparse has printed the usage error or the help
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)

    def report(done: int, total: int) -> None:
        if done == total or done % 1000 == 0:
            print(f"synth: {done}/{total} images", file=sys.stderr)

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
        print(f"synth: error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
