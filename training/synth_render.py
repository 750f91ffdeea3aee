"""Rendering one synthetic album image: background, scenery, the label motifs, style overlays.

:func:`render` paints a motif for every label of an image's truth (the motifs themselves are
in :mod:`training.synth_motifs`), then the drawing and cartoon styles and a camera-like
exposure jitter and sensor noise. Everything random comes from the generator passed in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from training.synth_motifs import (
    Canvas,
    Colour,
    paint_bicycle,
    paint_bird,
    paint_birthday,
    paint_cake,
    paint_car,
    paint_cat,
    paint_dog,
    paint_fireworks,
    paint_flower,
    paint_fruit,
    paint_people,
    paint_qr,
    paint_receipt,
    paint_screenshot,
    paint_trees,
)

__all__ = ["render"]


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


def _scenery(c: Canvas, truth: set[str]) -> None:
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
    c = Canvas(_background(truth, rng, size), rng)
    _scenery(c, truth)
    anchor: tuple[float, float] | None = None
    if "screenshot" in truth:
        anchor = paint_screenshot(c)
    elif "receipt" in truth:
        anchor = paint_receipt(c)
    paint_trees(c, truth)
    if "fireworks" in truth:
        paint_fireworks(c)
    if "birthday" in truth:
        paint_birthday(c)
    paint_people(c, truth)  # before the objects: a cat in front of a person is seen, the reverse would hide it
    painters: tuple[tuple[str, Callable[[Canvas], None]], ...] = (
        ("car", paint_car),
        ("bicycle", paint_bicycle),
        ("flower", paint_flower),
        ("fruit", paint_fruit),
        ("cake", paint_cake),
        ("dog", paint_dog),
    )
    for key, paint in painters:
        if key in truth:
            paint(c)
    if "cat" in truth:
        paint_cat(c, folded="fold_eared_cat" in truth)
    if "bird" in truth:
        paint_bird(c)
    if "qr_code" in truth:
        paint_qr(c, anchor)
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
