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
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from training.synth_art import render_image

__all__ = ["LABELS", "RELATIONS", "LabelSpec", "SynthError", "SynthSummary", "closure", "generate", "main", "taxonomy"]


@dataclass(frozen=True)
class LabelSpec:
    """One label of the synthetic taxonomy, as written to ``taxonomy.json``."""

    key: str
    name_en: str
    name_zh: str
    parent: str | None
    guideline: str
    small_object: bool = False
