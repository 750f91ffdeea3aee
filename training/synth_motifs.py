"""The synthetic album's drawing canvas and the motif painted for each object label.

Each painter draws one label's motif (a cat, a car, a QR code ...) onto a :class:`Canvas`,
drawing every random number from the canvas's generator in a fixed order, so an image is
fully determined by its generator. Used by :func:`training.synth_render.render`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

Colour = tuple[int, int, int]
Box = tuple[float, float, float, float]


class Canvas:
    """A square image being painted; shapes are given relative to a centre and a unit length."""

    def __init__(self, image: Image.Image, rng: np.random.Generator) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.size = image.width
        self.rng = rng
        self.line = max(1, round(image.width / 48))
        self.spots: list[tuple[float, float]] = []

    def px(self, v: float) -> float:
        """A fraction of the side, in pixels."""
        return v * self.size

    def u(self, lo: float, hi: float) -> float:
        """A uniform random number in [lo, hi)."""
        return float(self.rng.uniform(lo, hi))

    def count(self, lo: int, hi: int) -> int:
        """A random whole number from lo to hi, both included."""
        return int(self.rng.integers(lo, hi + 1))

    def colour(self, options: Sequence[Colour], jitter: int = 18) -> Colour:
        """One of ``options``, each channel moved by up to ``jitter``."""
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
        """An ellipse in ``box`` (units of ``r`` around x, y); ``sx=-1`` mirrors it."""
        self.draw.ellipse(self._box(x, y, r, box, sx), fill=fill)

    def rect(self, x: float, y: float, r: float, box: Box, fill: Colour, sx: int = 1) -> None:
        """A rectangle in ``box`` (units of ``r`` around x, y); ``sx=-1`` mirrors it."""
        self.draw.rectangle(self._box(x, y, r, box, sx), fill=fill)

    def poly(self, x: float, y: float, r: float, pts: Sequence[tuple[float, float]], fill: Colour, sx: int = 1) -> None:
        """A filled polygon through ``pts`` (units of ``r`` around x, y); ``sx=-1`` mirrors it."""
        self.draw.polygon([(x + sx * a * r, y + b * r) for a, b in pts], fill=fill)

    def path(
        self, x: float, y: float, r: float, pts: Sequence[tuple[float, float]], fill: Colour, width: int, sx: int = 1
    ) -> None:
        """A polyline through ``pts`` (units of ``r`` around x, y); ``sx=-1`` mirrors it."""
        self.draw.line([(x + sx * a * r, y + b * r) for a, b in pts], fill=fill, width=width)

    def disc(self, x: float, y: float, r: float, fill: Colour) -> None:
        """A filled circle of radius ``r`` (pixels) centred on x, y."""
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)

    def ring(self, x: float, y: float, r: float, fill: Colour, width: int) -> None:
        """A circle outline of radius ``r`` (pixels) centred on x, y."""
        self.draw.ellipse((x - r, y - r, x + r, y + r), outline=fill, width=width)


def _tree(c: Canvas, x: float, base: float, h: float, dark: bool) -> None:
    leaf = c.colour([(35, 110, 40) if dark else (60, 150, 50)], 20)
    c.rect(x, base, h, (-0.06, -0.45, 0.06, 0), (70, 45, 25) if dark else (95, 60, 30))
    for dx, dy in ((-0.15, -0.62), (0.15, -0.62), (0.0, -0.76)):
        c.disc(x + dx * h, base + dy * h, 0.28 * h, leaf)


def paint_trees(c: Canvas, truth: set[str]) -> None:
    """Many dark trees for a forest, else one or two trees (beside any people) for tree."""
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


def _face(c: Canvas, x: float, y: float, r: float, glasses: bool) -> None:
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


def paint_people(c: Canvas, truth: set[str]) -> None:
    """One large face for portrait, or a row of three to five for group_photo; glasses on one of them."""
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


def paint_cat(c: Canvas, folded: bool) -> None:
    """A tabby cat; ``folded`` gives it the folded ears of a fold-eared cat."""
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


def paint_dog(c: Canvas) -> None:
    """A dog with long floppy ears."""
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


def paint_bird(c: Canvas) -> None:
    """A small bird in the sky, facing left or right."""
    x, y = c.spot(0.12, 0.35, 0.15, 0.85)
    r = c.px(c.u(0.05, 0.075))
    body = c.colour([(40, 90, 220), (220, 40, 40), (240, 200, 30)], 15)
    sx = 1 if c.rng.random() < 0.5 else -1
    c.oval(x, y, r, (-1.3, -0.7, 1.3, 0.7), body)
    c.oval(x, y, r, (0.55, -1.15, 1.65, -0.05), body, sx)
    c.poly(x, y, r, [(1.6, -0.75), (2.3, -0.55), (1.6, -0.35)], (255, 150, 0), sx)
    c.poly(x, y, r, [(-0.6, 0.0), (0.4, -0.1), (-0.3, -1.4)], (body[0] // 2, body[1] // 2, body[2] // 2), sx)


def paint_car(c: Canvas) -> None:
    """A car seen from the side."""
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


def paint_bicycle(c: Canvas) -> None:
    """A bicycle seen from the side."""
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


def paint_cake(c: Canvas) -> None:
    """A layered cake with candles."""
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


def paint_fruit(c: Canvas) -> None:
    """A bowl of fruit."""
    x, y = c.spot(0.5, 0.75)
    r = c.px(c.u(0.065, 0.085))
    bowl = c.colour([(250, 250, 250), (140, 90, 40)])
    c.draw.chord((x - 3.2 * r, y - 1.5 * r, x + 3.2 * r, y + 2.0 * r), 0, 180, fill=bowl)
    for k in range(c.count(3, 5)):
        fx, fy = x + (k - 2) * 1.2 * r + c.u(-0.2, 0.2) * r, y - c.u(0.0, 0.6) * r
        c.disc(fx, fy, r, c.colour([(220, 30, 30), (250, 150, 20), (130, 200, 50)]))
        c.path(fx, fy, r, [(0, -1), (0.2, -1.4)], (90, 60, 20), 1)
        c.oval(fx, fy, r, (0.2, -1.5, 0.9, -1.1), (40, 160, 40))


def paint_flower(c: Canvas) -> None:
    """One to three flowers on stems."""
    petal = c.colour([(240, 110, 170), (170, 90, 220), (230, 40, 60), (250, 250, 250)], 15)
    for _ in range(c.count(1, 3)):
        x, y = c.spot(0.35, 0.7)
        r = c.px(c.u(0.05, 0.07))
        c.path(x, y, r, [(0, 0), (c.u(-0.5, 0.5), 4)], (40, 140, 40), c.line + 1)
        for k in range(6):
            c.disc(x + 1.1 * r * math.cos(k * math.pi / 3), y + 1.1 * r * math.sin(k * math.pi / 3), 0.75 * r, petal)
        c.disc(x, y, 0.6 * r, (250, 210, 30))


def paint_birthday(c: Canvas) -> None:
    """Bunting across the top and balloons on strings."""
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


def paint_fireworks(c: Canvas) -> None:
    """One to three firework bursts."""
    for _ in range(c.count(1, 3)):
        x, y, r = c.px(c.u(0.15, 0.85)), c.px(c.u(0.12, 0.42)), c.px(c.u(0.08, 0.15))
        colour = c.colour([(255, 80, 80), (255, 220, 60), (100, 255, 120), (120, 180, 255), (255, 120, 255)], 20)
        rays = c.count(12, 17)
        for k in range(rays):
            dx, dy = math.cos(2 * math.pi * k / rays), math.sin(2 * math.pi * k / rays)
            c.path(x, y, r, [(0.3 * dx, 0.3 * dy), (dx, dy)], colour, 1)
            c.disc(x + r * dx, y + r * dy, max(1.0, 0.06 * r), (255, 255, 230))


def paint_screenshot(c: Canvas) -> tuple[float, float]:
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


def paint_receipt(c: Canvas) -> tuple[float, float]:
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


def paint_qr(c: Canvas, at: tuple[float, float] | None) -> None:
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
