"""A small taxonomy that has every shape the rules care about, shared by the tests.

animal ⊃ cat ⊃ fold_eared_cat, animal ⊃ dog; plant ⊃ tree; scene ⊃ forest, indoor,
outdoor; art ⊃ drawing, cartoon. forest ⇒ tree, forest ⇒ outdoor; indoor ⊘ outdoor;
drawing ≈ cartoon. ``ring`` is a small object, ``retired`` is inactive.
"""

from __future__ import annotations

import copy
from typing import Any


def _label(key: str, en: str, zh: str, parent: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name_en": en,
        "name_zh": zh,
        "parent": parent,
        "small_object": extra.get("small_object", False),
        "active": extra.get("active", True),
        "guideline": extra.get("guideline", ""),
        "examples": extra.get("examples", []),
    }


# In export order: roots by key, each followed by its subtree (children by key).
SAMPLE_TAXONOMY: dict[str, Any] = {
    "labels": [
        _label("animal", "Animal", "动物", None),
        _label(
            "cat", "Cat", "猫", "animal", guideline="Any **domestic** cat.\n\n![a cat](https://example.org/cat.jpg)"
        ),
        _label("fold_eared_cat", "Scottish fold cat", "折耳猫", "cat"),
        _label("dog", "Dog", "狗", "animal"),
        _label("art", "Art", "艺术", None),
        _label("cartoon", "Cartoon", "卡通", "art"),
        _label("drawing", "Drawing", "绘画", "art"),
        _label("object", "Object", "物品", None),
        _label("retired", "Retired label", "停用", "object", active=False),
        _label("ring", "Ring", "戒指", "object", small_object=True),
        _label("plant", "Plant", "植物", None),
        _label("tree", "Tree", "树", "plant"),
        _label("scene", "Scene", "场景", None),
        _label("forest", "Forest", "森林", "scene"),
        _label("indoor", "Indoor", "室内", "scene"),
        _label("outdoor", "Outdoor", "户外", "scene"),
    ],
    "relations": [
        {"kind": "excludes", "src": "indoor", "dst": "outdoor"},
        {"kind": "implies", "src": "forest", "dst": "outdoor"},
        {"kind": "implies", "src": "forest", "dst": "tree"},
        {"kind": "overlaps", "src": "drawing", "dst": "cartoon"},
    ],
}


def sample_taxonomy() -> dict[str, Any]:
    """A fresh deep copy, so a test may edit it."""
    return copy.deepcopy(SAMPLE_TAXONOMY)
