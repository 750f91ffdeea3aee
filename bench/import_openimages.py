"""Benchmark: importing Open Images label rows vs PostgreSQL's own COPY of the same file.

Budget (DESIGN.md): importing 1M Open Images label rows takes at most 3x the time COPY
takes to load the same file into a bare table, measured side by side (same run, same
database).

    python bench/import_openimages.py                          # 1M rows over 250k images
    python bench/import_openimages.py --rows 100000 --images 25000

What is timed, each reported on its own:

1. ``copy``: COPY of the labels CSV into a bare table (4 text columns, no index), three
   times, median; the baseline.
2. ``register images``: ``register_images`` over all images (read, sha256, decode,
   get-or-create), committed. The bench images are tiny JPEGs (48x32, ~1 KB), so this
   measures the per-image overhead; ``--sample-real N`` also times N realistic
   1024x768 JPEGs (~200 KB) to give the per-image cost on real Open Images files.
3. ``import``: the whole ``import_job_execute`` of the labels file, as the command
   and the Celery task run it: stage, validate, images (already registered: the
   size+mtime check, one lstat per image), labels, truth with closure expansion and
   history, evidence, commit (the deferred foreign-key checks run there). This is
   what the budget is about: ratio = import / copy.
4. ``re-import``: the same file again (nothing changes, nothing is written).

The database (``labelloop_bench_import`` on the server of DATABASE_URL) is created and
dropped by the run; the generated files live in a temporary folder (``--keep`` keeps
both).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FIXTURES = ROOT / "tests" / "dataset" / "fixtures" / "openimages"
CLASSES = FIXTURES / "class-descriptions-boxable.csv"
HIERARCHY = FIXTURES / "bbox_labels_600_hierarchy.json"
BENCH_DB = "labelloop_bench_import"

# The mix of a real Open Images image-level labels file.
HUMAN_POSITIVE, HUMAN_NEGATIVE = 0.60, 0.15  # the remaining 25% are machine rows
HUMAN_SOURCES = ("verification", "crowdsource-verified", "human")


def database_urls(database: str) -> tuple[str, str]:
    """(URL of the bench database, URL of the server's maintenance database) from DATABASE_URL."""
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}")), urlunsplit(parts._replace(path="/postgres"))


def database_recreate(admin_url: str, database: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{database}"')


def files_generate(work: Path, n_rows: int, n_images: int, seed: int) -> tuple[Path, Path, list[str]]:
    """labels.csv with n_rows rows over n_images tiny JPEGs (distinct bytes) under work/images."""
    from PIL import Image as PILImage

    rng = random.Random(seed)
    mids = [line.split(",", 1)[0] for line in CLASSES.read_text(encoding="utf-8").splitlines() if line]
    rng.shuffle(mids)
    # Zipf-like class frequencies, as in real image-level labels (Person, Clothing, ... first).
    weights = [1 / (rank + 1) ** 0.9 for rank in range(len(mids))]
    image_ids = [f"{rng.getrandbits(64):016x}" for _ in range(n_images)]
    images = work / "images"
    images.mkdir(parents=True)
    base = PILImage.new("RGB", (48, 32))
    for n, image_id in enumerate(image_ids):
        base.paste((n * 7 % 256, n * 13 % 256, n * 29 % 256), (0, 0, 48, 32))
        # The comment makes every file's bytes distinct (one image per ImageID).
        base.save(images / f"{image_id}.jpg", "JPEG", quality=85, comment=image_id.encode())
    labels = work / "labels.csv"
    with labels.open("w", encoding="utf-8", newline="") as out:
        out.write("ImageID,Source,LabelName,Confidence\n")
        per_image, extra = divmod(n_rows, n_images)
        for n, image_id in enumerate(image_ids):
            count = per_image + (1 if n < extra else 0)
            chosen: set[str] = set()
            while len(chosen) < count:
                chosen.add(rng.choices(mids, weights)[0])
            for mid in chosen:
                r = rng.random()
                if r < HUMAN_POSITIVE:
                    out.write(f"{image_id},{rng.choice(HUMAN_SOURCES)},{mid},1\n")
                elif r < HUMAN_POSITIVE + HUMAN_NEGATIVE:
                    out.write(f"{image_id},{rng.choice(HUMAN_SOURCES)},{mid},0\n")
                else:
                    out.write(f"{image_id},machine,{mid},{rng.random():.1f}\n")
    return labels, images, image_ids


def copy_baseline(url: str, labels: Path) -> float:
    """Seconds for COPY of the file into a bare table (created and dropped here)."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (imageid text, source text, labelname text, confidence text)")
        conn.commit()
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            labels.open("rb") as fh,
            cur.copy("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return elapsed


class PhaseClock:
    """A ProgressFn that records when each phase starts."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.marks or self.marks[-1][0] != phase:
            self.marks.append((phase, time.perf_counter()))

    def report(self, end: float) -> list[tuple[str, float]]:
        out = []
        for (phase, at), (_, nxt) in zip(self.marks, [*self.marks[1:], ("", end)], strict=True):
            out.append((phase, nxt - at))
        return out


def real_sample(work: Path, count: int) -> float:
    """Seconds per image to register ``count`` realistic 1024x768 JPEGs (rolled back)."""
    import numpy as np
    from django.db import transaction
    from PIL import Image as PILImage

    from annotator.dataset.ingest import ImageSpec, register_images

    folder = work / "real"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in range(count):
        small = (rng.random((96, 128, 3)) * 255).astype("uint8")
        PILImage.fromarray(small).resize((1024, 768), PILImage.Resampling.BILINEAR).save(
            folder / f"{n}.jpg", quality=90
        )
    start = time.perf_counter()
    with transaction.atomic():
        register_images(folder, [ImageSpec(path=f"{n}.jpg") for n in range(count)])
        transaction.set_rollback(True)
    return (time.perf_counter() - start) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample-real", type=int, default=200, help="realistic JPEGs to time (0: skip)")
    parser.add_argument("--database", default=BENCH_DB)
    parser.add_argument("--keep", action="store_true", help="keep the database and the generated files")
    args = parser.parse_args()

    url, admin_url = database_urls(args.database)
    database_recreate(admin_url, args.database)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotator.dataset.ingest import ImageSpec, import_job_execute, register_images
    from annotator.dataset.models import ImportJob

    work = Path(tempfile.mkdtemp(prefix="labelloop-bench-import-"))
    try:
        call_command("migrate", verbosity=0)
        t0 = time.perf_counter()
        labels, images, image_ids = files_generate(work, args.rows, args.images, args.seed)
        size_mb = labels.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size_mb:.1f} MB) over {args.images:,} images "
            f"in {time.perf_counter() - t0:.1f} s  [{work}]"
        )

        copies = [copy_baseline(url, labels) for _ in range(3)]
        copy_s = statistics.median(copies)
        print(f"copy (bare table, median of 3): {copy_s:.2f} s   runs: {', '.join(f'{c:.2f}' for c in copies)}")

        start = time.perf_counter()
        with transaction.atomic():
            register_images(images, [ImageSpec(path=f"{i}.jpg", origin_ref=i) for i in image_ids])
        reg_s = time.perf_counter() - start
        print(f"register images (tiny JPEGs): {reg_s:.1f} s = {reg_s / args.images * 1e6:.0f} us/image")
        if args.sample_real:
            per = real_sample(work, args.sample_real)
            print(
                f"register images (1024x768 JPEGs, sample of {args.sample_real}): {per * 1e3:.2f} ms/image "
                f"-> {per * args.images / 60:.1f} min for {args.images:,} such images"
            )

        params = {
            "labels": str(labels),
            "classes": str(CLASSES),
            "hierarchy": str(HIERARCHY),
            "images_root": str(images),
        }
        results = {}
        for name in ("import", "re-import"):
            job = ImportJob.objects.create(kind=ImportJob.Kind.OPENIMAGES, params=params)
            clock = PhaseClock()
            connection.close()  # a fresh connection, as a worker would have
            start = time.perf_counter()
            import_job_execute(job_id=job.pk, progress=clock)
            end = time.perf_counter()
            results[name] = end - start
            job.refresh_from_db()
            print(
                f"{name}: {end - start:.2f} s  ({end - start:.2f} / {copy_s:.2f} = {(end - start) / copy_s:.1f}x copy)"
            )
            for phase, seconds in clock.report(end):
                print(f"    {phase:28s} {seconds:7.2f} s")
            interesting = (
                "truth_created",
                "truth_implied",
                "truth_unchanged",
                "evidence_created",
                "evidence_unchanged",
                "images_checked",
                "labels_created",
                "relations_created",
            )
            print("    counts: " + ", ".join(f"{k}={job.counts.get(k, 0):,}" for k in interesting))

        copy_after = copy_baseline(url, labels)
        print(f"copy again after the imports: {copy_after:.2f} s")
        ratio = results["import"] / copy_s
        print(
            f"\nRESULT rows={args.rows:,} images={args.images:,}: import {results['import']:.2f} s, "
            f"copy {copy_s:.2f} s, ratio {ratio:.1f}x (budget 3x); re-import {results['re-import']:.2f} s "
            f"({results['re-import'] / copy_s:.1f}x); image registration {reg_s / args.images * 1e6:.0f} us/image "
            f"(tiny files)"
        )
        return 0
    finally:
        connection.close()
        if args.keep:
            print(f"kept database {args.database} and files in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            database_recreate(admin_url, args.database, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
