"""The synthetic album's taxonomy and label model: labels, relations, truth and noise.

33 labels in 8 categories (English and Simplified Chinese names, a guideline each), the
relations between them, the closure under parent and ``implies``, the model that draws
each image's truth (a long tail of frequencies, correlated labels) and the annotator-like
noise injected into the labels. Used by :mod:`training.synth`; no drawing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "KEYS",
    "LABELS",
    "ORDER",
    "RELATIONS",
    "LabelSpec",
    "closure",
    "inject_noise",
    "sample_truth",
    "taxonomy",
]


@dataclass(frozen=True)
class LabelSpec:
    """One label of the synthetic taxonomy, as written to ``taxonomy.json``."""

    key: str
    name_en: str
    name_zh: str
    parent: str | None
    guideline: str
    small_object: bool = False


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
ORDER: dict[str, int] = {key: i for i, key in enumerate(KEYS)}
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
    return sorted(seen, key=ORDER.__getitem__)


def sample_truth(rng: np.random.Generator) -> set[str]:
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


def inject_noise(
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
            {p for key in clean for p in _CONFUSIONS.get(key, ()) if p not in truth}, key=ORDER.__getitem__
        )
        if partners and rng.random() < _CONFUSION_SHARE:
            wrong = partners[int(rng.integers(len(partners)))]
        else:
            pool = [key for key in _LEAFISH if key not in truth]
            wrong = pool[int(rng.integers(len(pool)))]
        kept = sorted([*kept, wrong], key=ORDER.__getitem__)
    return kept, wrong
