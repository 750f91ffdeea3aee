"""Benchmark: re-mapping stored competitor answers into evidence, and the unmapped report.

No budget in the design names these; they are measured so that a mapping edit on a full
dataset (900k images, ~5 keywords each) is known to take seconds, not hours, and the unmapped
report page stays quick.

    python bench/sources_remap.py                              # 200k images x 5 keywords
    python bench/sources_remap.py --images 900000              # the full dataset

What is timed:

1. ``copy``: PostgreSQL's COPY of as many rows as the re-map writes, with the evidence
   table's columns, into a bare table (no index); median of three; the baseline.
2. ``re-map``: ``provider_remap`` (delete the provider's evidence, insert the mapped rows,
   in one transaction, committed), twice: the first over an empty evidence table, the second
   replacing everything (what a floor change or "Re-map now" does). Ratio = re-map / copy.
3. ``keyword re-map``: what one mapping edit does: ``provider_remap(keywords=[k])`` for the
   most frequent mapped keyword (the worst case) and for a median one.
4. ``unmapped report``: ``unmapped_keywords`` (the report page's two queries), median of five.

Keywords follow a Zipf-like frequency, as provider keywords do; a third of the distinct
keywords are mapped, to 300 labels. The database (``labelloop_bench_sources`` on the server
of DATABASE_URL, or ``--database``) is created and dropped by the run.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "labelloop_bench_sources"


def database_urls(database: str) -> tuple[str, str]:
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{database}")), urlunsplit(parts._replace(path="/postgres"))


def database_recreate(admin_url: str, database: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{database}"')


def data_generate(url: str, *, images: int, per_image: int, keywords: int, seed: int) -> tuple[int, int]:
    """Images, stored Baidu keywords and the mapping; returns (raw label rows, mapped keywords)."""
    from annotator.taxonomy.models import ExternalLabelMapping, Label

    rng = random.Random(seed)
    words = [f"词{n:05d}" for n in range(keywords)]
    weights = [1 / (rank + 1) ** 0.9 for rank in range(keywords)]
    labels = Label.objects.bulk_create(Label(key=f"label-{n:03d}", name_en=f"Label {n}") for n in range(300))
    mapped = rng.sample(words, keywords // 3)
    ExternalLabelMapping.objects.bulk_create(
        ExternalLabelMapping(source="baidu", external_id=w, label=rng.choice(labels), min_score=0.0) for w in mapped
    )
    rows = 0
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY dataset_image (content_hash, storage_root, relative_path, size_bytes, width, height, origin, "
            "origin_ref, split, created_at) FROM STDIN"
        ) as copy:
            for n in range(images):
                copy.write_row((f"{n:064x}", "/bench", f"{n}.jpg", 1000, 640, 480, "public", "", "", "2026-01-01"))
        cur.execute("SELECT min(id) FROM dataset_image")
        found = cur.fetchone()
        assert found is not None
        first = found[0]
        with cur.copy("COPY sources_rawlabel (provider, image_id, external_id, name, score) FROM STDIN") as copy:
            for n in range(images):
                for word in set(rng.choices(words, weights, k=per_image)):
                    copy.write_row(("baidu", first + n, word, word, round(rng.uniform(0.2, 1.0), 3)))
                    rows += 1
        conn.commit()
        cur.execute("ANALYZE")
    return rows, len(mapped)


def copy_baseline(url: str, rows: int) -> float:
    """Seconds to COPY ``rows`` evidence-shaped rows into a bare table."""
    buffer = io.StringIO()
    for n in range(rows):
        buffer.write(f"{n}\t{n % 300}\t1\t0.5\t词00001\tt\t2026-01-01\n")
    data = buffer.getvalue().encode()
    with psycopg.connect(url) as conn:
        conn.execute(
            "CREATE TABLE bench_copy (image_id bigint, label_id bigint, source_id bigint, score double precision, "
            "keyword varchar(300), suggested boolean, created_at timestamptz)"
        )
        conn.commit()
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_copy FROM STDIN") as copy:
            copy.write(data)
        conn.commit()
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200_000)
    parser.add_argument("--keywords-per-image", type=int, default=5)
    parser.add_argument("--keywords", type=int, default=3000, help="distinct provider keywords")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default=BENCH_DB)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    url, admin_url = database_urls(args.database)
    database_recreate(admin_url, args.database)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from celery import current_app
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.core.management import call_command

    from annotator.accounts.roles import Role
    from annotator.accounts.services import user_create_with_role
    from annotator.dataset.models import Evidence
    from annotator.sources.selectors import unmapped_keywords
    from annotator.sources.services import provider_remap

    current_app.send_task = lambda *a, **k: None  # type: ignore[method-assign]  # no broker needed here
    try:
        call_command("migrate", verbosity=0)
        t0 = time.perf_counter()
        rows, mapped = data_generate(
            url, images=args.images, per_image=args.keywords_per_image, keywords=args.keywords, seed=args.seed
        )
        from annotator.sources.services import keyword_stats_rebuild

        keyword_stats_rebuild(provider="baidu")  # what the fetches keep up to date one image at a time
        generated = time.perf_counter() - t0
        print(f"data: {args.images:,} images, {rows:,} stored keywords, {mapped:,} of {args.keywords:,} mapped")
        print(f"      ({generated:.1f} s to generate)")

        timings = []
        for _ in range(2):
            start = time.perf_counter()
            provider_remap(provider="baidu")
            timings.append(time.perf_counter() - start)
        evidence = Evidence.objects.count()
        from django.db.models import Count

        from annotator.sources.models import RawLabel
        from annotator.taxonomy.models import ExternalLabelMapping

        mapped_ids = ExternalLabelMapping.objects.filter(source="baidu").values("external_id")
        by_freq = list(
            RawLabel.objects.filter(external_id__in=mapped_ids)
            .values_list("external_id")
            .annotate(n=Count("id"))
            .order_by("-n")
            .values_list("external_id", "n")
        )
        keyword_runs = []
        for keyword, n in (by_freq[0], by_freq[len(by_freq) // 2]):
            start = time.perf_counter()
            provider_remap(provider="baidu", keywords=[keyword])
            keyword_runs.append((keyword, n, time.perf_counter() - start))
        copies = [copy_baseline(url, evidence) for _ in range(3)]
        copy_s = statistics.median(copies)
        qa = user_create_with_role(username="bench-qa", password="bench-password-1", role=Role.QA_LEAD)
        assert isinstance(qa, AbstractBaseUser)
        report = []
        for _ in range(5):
            start = time.perf_counter()
            unmapped_keywords(user=qa, provider="baidu")
            report.append(time.perf_counter() - start)

        print(f"evidence rows written: {evidence:,}")
        print(f"copy (baseline):       {copy_s:8.2f} s")
        print(f"re-map, empty:         {timings[0]:8.2f} s   ratio {timings[0] / copy_s:5.1f}x copy")
        print(f"re-map, replacing all: {timings[1]:8.2f} s   ratio {timings[1] / copy_s:5.1f}x copy")
        for keyword, n, seconds in keyword_runs:
            print(f"re-map one keyword:    {seconds:8.2f} s   ({keyword}, on {n:,} images)")
        print(f"unmapped report:       {statistics.median(report) * 1000:8.0f} ms (median of 5)")
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            database_recreate(admin_url, args.database, drop_only=True)


if __name__ == "__main__":
    raise SystemExit(main())
