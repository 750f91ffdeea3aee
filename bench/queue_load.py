"""Load on the cleaning queues: 1M images, 4M labels, 50 annotators leasing and deciding at once.

What it does, in order:

1. creates the scratch database ``labelloop_bench_queue`` on the server ``DATABASE_URL`` points
   at (dropped at the end unless ``--keep``; ``--keep`` also reuses a filled one) and runs the
   project's real migrations into it;
2. fills it with ``COPY``: a flat taxonomy of ``--labels`` labels (with a few implies / excludes
   relations), ``--images`` images, about ``--labels-per-image`` positives per image (label
   frequencies follow a Zipf law, as in an album), the scores of a fake model version (the
   image's labels plus one or two others; suggested = its top 5 with score >= 0.5) and a fake
   competitor (about 1.5 claims per image);
3. builds every queue with the real ``queues_rerank`` service;
4. starts the real server — gunicorn serving ``annotator.wsgi`` with DEBUG off — on loopback;
5. runs ``--annotators`` simulated annotators (one thread and one keep-alive connection each):
   each logs in through the real login page (CSRF included), then, for ``--seconds``, takes a
   batch of its label's queue (the call the review page makes: lease + the batch's items),
   decides every item of it (one POST each, verdicts drawn at random) and submits the page
   (releases the lease). Annotators share labels (``--labels-busy``), so they compete for the
   same items all the time. Two phases run one after the other (``--mode both``, the default):

   - saturation: no think time; each annotator sends its next call as soon as the last
     returns. Latency there is queue length / throughput; the decisions/s are what counts
     (judged against the Label Studio goal below);
   - paced: each annotator works like a person: an exponential think time of mean ``--think``
     (1.5 s) before each decision and an exponential pause of mean ``--page-pause`` (3 s)
     after each page, an offered load of about 50 / (1.5 + 3 / 36) = 31.6 decisions/s (printed);
     the annotators start at uniform random times within the first ``--ramp`` (10 s), as people
     do, rather than all taking their first batch in the same instant.
     The latency budgets are judged on this phase.

It prints p50 / p95 of the batch call ("queue page") and of recording a decision as measured
by the clients on loopback, the decisions per second sustained, the items leased to two people
(from the clients' batches and from the database: items decided by two people) and the
decisions lost (a 2xx answer whose decision is not in the database), for each phase. Ratios are printed
against the budgets (p95 <= 100 ms for the queue page, <= 30 ms for a decision) and against
the reference of the design: Label Studio 1.23.2 sustains about 9 decisions/s with 10
annotators on this kind of machine; LabelLoop should sustain at least 20x that.

The clients run on the same machine as the server and PostgreSQL: on a 2-core machine they
take CPU from both, so the figures are a lower bound of what the server does alone.

Measured (50 annotators, 1M images; see docs/cleaning.md): before the request-cost work, on a
quiet machine, 25.5 decisions/s at saturation, queue page p95 4.9 s, decision p95 3.3 s, 45.8 ms
CPU per decision; after, with other jobs sharing the cores: saturation 35.8 decisions/s (4.0x
Label Studio), 33.7 ms CPU per decision; paced (offered ~31.6/s) queue page p50 163 ms / p95
568 ms, decision p50 74 ms / p95 287 ms, 30.0 ms CPU per decision: the budgets are not met yet.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres python bench/queue_load.py
    ... --images 20000 --annotators 10 --seconds 20          # a quick run
    ... --keep                                               # keep (and reuse) the filled database
    ... --keep --mode paced --think 1.5 --page-pause 3        # only the paced phase
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCRATCH_DB = "labelloop_bench_queue"
PASSWORD = "bench-annotator-password"
BATCH_SIZE_NOMINAL = 36  # items per batch, the default CLEANING_BATCH_SIZE (only for the offered load printed)
BUDGET_QUEUE_P95_MS = 100.0
BUDGET_DECISION_P95_MS = 30.0
LABEL_STUDIO_DECISIONS_PER_S = 9.0
WANTED_FACTOR = 20.0
FILL_CHUNK = 100_000


# --- the scratch database ------------------------------------------------------------------


def scratch_url(base: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{SCRATCH_DB}", parts.query, parts.fragment))


def admin_connect(base: str) -> Any:
    import psycopg

    return psycopg.connect(base, autocommit=True)


def scratch_exists(base: str) -> bool:
    with admin_connect(base) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [SCRATCH_DB]).fetchone() is not None


def scratch_recreate(base: str) -> None:
    with admin_connect(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{SCRATCH_DB}"')


def scratch_drop(base: str) -> None:
    with admin_connect(base) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)')


# --- the fill ------------------------------------------------------------------------------


def bench_taxonomy(count: int) -> dict[str, Any]:
    labels = [
        {"key": f"l{i:04d}", "name_en": f"Label {i}", "name_zh": f"标签{i}", "parent": None, "guideline": ""}
        for i in range(count)
    ]
    relations: list[dict[str, str]] = []
    for i in range(0, min(count, 40) - 1, 4):  # a few implies / excludes among the frequent labels
        relations.append({"kind": "implies", "src": f"l{i + 1:04d}", "dst": f"l{i:04d}"})
        relations.append({"kind": "excludes", "src": f"l{i + 2:04d}", "dst": f"l{i + 3:04d}"})
    return {"labels": labels, "relations": relations}


def _copy_text(cur: Any, table: str, columns: str, lines: list[str]) -> None:
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write("".join(lines))


def fill(images: int, labels_per_image: float, seed: int) -> dict[str, int]:
    """COPY images, positives, model and competitor evidence; returns row counts."""
    from django.db import connection
    from django.utils import timezone

    from annotator.dataset.models import EvidenceSource
    from annotator.taxonomy.models import Label

    rng = np.random.default_rng(seed)
    label_ids = np.array(list(Label.objects.order_by("key").values_list("id", flat=True)), dtype=np.int64)
    n_labels = len(label_ids)
    weights = 1.0 / np.arange(1, n_labels + 1) ** 0.8  # Zipf-like: a long tail of rare labels
    weights /= weights.sum()
    now = timezone.now().isoformat()
    model = EvidenceSource.objects.create(kind="model", name="bench-v1", refreshed_at=timezone.now())
    competitor = EvidenceSource.objects.create(kind="competitor", name="bench-provider", refreshed_at=timezone.now())
    counts = {"images": 0, "labels": 0, "model": 0, "competitor": 0}
    per_row = 8  # candidates drawn per image; duplicates removed, the first k kept
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        # The rows are consistent by construction; skipping the per-row foreign-key triggers (this
        # session only, on the scratch database) makes the COPY several times faster.
        cur.execute("SET session_replication_role = replica")
        first_id = None
        for start in range(0, images, FILL_CHUNK):
            n = min(FILL_CHUNK, images - start)
            lines = [
                f"{(start + i):064x}\t/bench/images\t{start + i:07d}.jpg\t150000\t1024\t768\tpublic\t\t"
                f"{'val' if (start + i) % 10 == 0 else 'train'}\t\\N\t{now}\n"
                for i in range(n)
            ]
            _copy_text(
                cur,
                "dataset_image",
                "content_hash, storage_root, relative_path, size_bytes, width, height, origin, origin_ref, split,"
                " file_mtime_ns, created_at",
                lines,
            )
            if first_id is None:
                first_id = cur.execute("SELECT min(id) FROM dataset_image").fetchone()[0]
            image_ids = np.arange(first_id + start, first_id + start + n, dtype=np.int64)
            # ~labels_per_image distinct labels per image
            k = np.clip(rng.poisson(labels_per_image, n), 1, per_row)
            cand = np.sort(rng.choice(n_labels, size=(n, per_row), p=weights), axis=1)
            fresh = np.ones_like(cand, dtype=bool)
            fresh[:, 1:] = cand[:, 1:] != cand[:, :-1]
            shuffled = np.where(fresh, rng.random(cand.shape), 2.0)  # random order among distinct ones
            order = np.argsort(shuffled, axis=1)
            cand = np.take_along_axis(cand, order, axis=1)
            fresh = np.take_along_axis(fresh, order, axis=1)
            keep = fresh & (np.arange(per_row)[None, :] < k[:, None])
            rows, cols = np.nonzero(keep)
            pos_image, pos_label = image_ids[rows], label_ids[cand[rows, cols]]
            _copy_text(
                cur,
                "dataset_imagelabel",
                "image_id, label_id, state, source, updated_at",
                [
                    f"{i}\t{lab}\t1\timport\t{now}\n"
                    for i, lab in zip(pos_image.tolist(), pos_label.tolist(), strict=True)
                ],
            )
            # model: the image's labels (score mostly high; ~8 % low: the dataset may be wrong) and the
            # next candidate or two (mostly low; ~10 % high: the dataset may miss it)
            extra = fresh & ~keep & (np.arange(per_row)[None, :] < (k + 1 + (rng.random(n) < 0.5))[:, None])
            erows, ecols = np.nonzero(extra)
            m_image = np.concatenate([pos_image, image_ids[erows]])
            m_label = np.concatenate([pos_label, label_ids[cand[erows, ecols]]])
            high = np.concatenate([rng.random(len(pos_image)) >= 0.08, rng.random(len(erows)) < 0.10])
            score = np.where(high, rng.uniform(0.5, 0.99, len(m_image)), rng.uniform(0.02, 0.5, len(m_image)))
            # suggested: the image's top 5 with score >= 0.5 (an image has at most ~6 rows here)
            order = np.lexsort((-score, m_image))
            m_image, m_label, score = m_image[order], m_label[order], score[order]
            rank = np.arange(len(m_image)) - np.searchsorted(m_image, m_image)
            suggested = (rank < 5) & (score >= 0.5)
            _copy_text(
                cur,
                "dataset_evidence",
                "image_id, label_id, source_id, score, keyword, suggested, created_at",
                [
                    f"{i}\t{lab}\t{model.pk}\t{s:.4f}\t\t{'t' if sug else 'f'}\t{now}\n"
                    for i, lab, s, sug in zip(
                        m_image.tolist(), m_label.tolist(), score.tolist(), suggested.tolist(), strict=True
                    )
                ],
            )
            # competitor: ~1.5 claims per image, mostly the image's labels, some others
            c_rows = rng.random(len(pos_image)) < 0.33
            c_image, c_label = pos_image[c_rows], pos_label[c_rows]
            wrong = rng.random(n) < 0.2
            w_image = image_ids[wrong]
            w_label = label_ids[rng.choice(n_labels, size=int(wrong.sum()), p=weights)]
            pairs = np.unique(
                np.stack([np.concatenate([c_image, w_image]), np.concatenate([c_label, w_label])], axis=1), axis=0
            )
            c_score = rng.uniform(0.3, 0.99, len(pairs))
            _copy_text(
                cur,
                "dataset_evidence",
                "image_id, label_id, source_id, score, keyword, suggested, created_at",
                [
                    f"{i}\t{lab}\t{competitor.pk}\t{s:.3f}\tkw{lab}\tt\t{now}\n"
                    for (i, lab), s in zip(pairs.tolist(), c_score.tolist(), strict=True)
                ],
            )
            counts["images"] += n
            counts["labels"] += len(pos_image)
            counts["model"] += len(m_image)
            counts["competitor"] += len(pairs)
            print(
                f"\rfill: {counts['images']:,} images, {counts['labels']:,} labels, "
                f"{counts['model'] + counts['competitor']:,} evidence rows",
                end="",
                flush=True,
            )
        print()
        cur.execute("SET session_replication_role = DEFAULT")
        cur.execute("ANALYZE")
    return counts


# --- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_start(url: str, port: int, workers: int, threads: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LABELLOOP_IMAGE_ROOTS": "/bench/images",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "600",
        # DEBUG off serves hashed static files from a manifest: build one for this run.
        "STATIC_ROOT": str(log.parent / f"{log.stem}_static"),
    }
    env.pop("SECRET_KEY_FILE", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "annotator.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--keep-alive",
        "30",
        "--log-level",
        "warning",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited at start; see {log}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the server did not answer /healthz within 60 s; see {log}")


# --- one annotator -------------------------------------------------------------------------


_COOKIE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")


@dataclass
class Annotator:
    """One simulated annotator: its own keep-alive connection and cookies; records what it saw."""

    port: int
    username: str
    label_key: str
    rng: random.Random
    cookies: dict[str, str] = field(default_factory=dict)
    queue_ms: list[float] = field(default_factory=list)
    decision_ms: list[float] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    decided: list[tuple[int, int | None]] = field(default_factory=list)  # (item id, decision id) answered 2xx
    errors: list[str] = field(default_factory=list)
    conn: http.client.HTTPConnection | None = None
    think_mean_s: float = 0.0  # paced mode: a person looks at each tile this long on average
    page_pause_mean_s: float = 0.0  # paced mode: and pauses this long between pages
    start_delay_s: float = 0.0  # paced mode: people do not all open their page in the same instant

    def reset(self, think_mean_s: float, page_pause_mean_s: float, start_delay_s: float = 0.0) -> None:
        self.think_mean_s, self.page_pause_mean_s = think_mean_s, page_pause_mean_s
        self.start_delay_s = start_delay_s
        self.queue_ms, self.decision_ms, self.batches, self.decided, self.errors = [], [], [], [], []

    def pause(self, mean_s: float, deadline: float) -> float:
        """Sleep an exponential time of mean ``mean_s`` (not past the deadline); seconds slept."""
        if mean_s <= 0:
            return 0.0
        wait = min(self.rng.expovariate(1.0 / mean_s), max(0.0, deadline - time.monotonic()))
        time.sleep(wait)
        return wait

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        all_headers = {"Host": "127.0.0.1", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                match = _COOKIE.match(value)
                if match:
                    self.cookies[match.group(1)] = match.group(2)
        return response.status, data, response

    def login(self) -> None:
        status, _, _ = self.request("GET", "/login/")
        token = self.cookies.get("csrftoken", "")
        body = urlencode({"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token}).encode()
        status, _, response = self.request(
            "POST",
            "/login/",
            body,
            {"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://127.0.0.1:{self.port}/login/"},
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"{self.username}: login failed ({status})")

    def api(self, method: str, path: str, payload: dict[str, Any] | None = None) -> tuple[int, Any, float]:
        body = json.dumps(payload).encode() if payload is not None else None
        headers = {"Accept": "application/json", "X-CSRFToken": self.cookies.get("csrftoken", "")}
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers["Referer"] = f"http://127.0.0.1:{self.port}/"
        started = time.perf_counter()
        status, data, _ = self.request(method, path, body, headers)
        elapsed = (time.perf_counter() - started) * 1000.0
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, parsed, elapsed

    def work(self, api: Any, deadline: float) -> None:
        time.sleep(self.start_delay_s)
        while time.monotonic() < deadline:
            status, batch, ms = self.api(*api.batch(self.label_key))
            if not 200 <= status < 300:
                self.errors.append(f"batch {status}: {str(batch)[:200]}")
                time.sleep(0.2)
                continue
            self.queue_ms.append(ms)
            items = api.batch_items(batch)
            if not items:
                time.sleep(0.5)  # the queue is (for now) empty
                continue
            self.batches.append(items)
            for item in items:
                if time.monotonic() >= deadline:
                    break
                thought = self.pause(self.think_mean_s, deadline)
                if time.monotonic() >= deadline:
                    break
                verdict = self.rng.choices(("present", "absent", "unsure"), weights=(70, 25, 5))[0]
                spent_ms = int(thought * 1000) if self.think_mean_s > 0 else self.rng.randint(400, 3000)
                status, answer, ms = self.api(*api.decide(item, verdict, spent_ms))
                if 200 <= status < 300:
                    self.decision_ms.append(ms)
                    self.decided.append((item, api.decision_id(answer)))
                else:
                    self.errors.append(f"decide {status}: {str(answer)[:200]}")
            status, answer, _ = self.api(*api.submit(batch))
            if not 200 <= status < 300:
                self.errors.append(f"submit {status}: {str(answer)[:200]}")
            self.pause(self.page_pause_mean_s, deadline)


class CoreApi:
    """The review page's calls to the cleaning API (paths resolved from its URLconf)."""

    def __init__(self) -> None:
        from django.urls import reverse

        self.reverse = reverse

    def batch(self, label_key: str) -> tuple[str, str, dict[str, Any] | None]:
        """Take the next batch of the label's queue: a lease and its tiles (the review page's data)."""
        return "POST", self.reverse("cleaning:api_lease_take", args=[label_key]), {}

    def batch_items(self, batch: Any) -> list[int]:
        return [int(tile["id"]) for tile in batch.get("items", [])]

    def decide(self, item: int, verdict: str, spent_ms: int) -> tuple[str, str, dict[str, Any] | None]:
        path = self.reverse("cleaning:api_decision_record", args=[item])
        return "POST", path, {"verdict": verdict, "time_spent_ms": spent_ms}

    def decision_id(self, answer: Any) -> int | None:
        value = answer.get("decision") if isinstance(answer, dict) else None
        return int(value) if value is not None else None

    def submit(self, batch: Any) -> tuple[str, str, dict[str, Any] | None]:
        """Submit the page: what is left undecided goes back to the queue."""
        return "POST", self.reverse("cleaning:api_lease_release", args=[int(batch["lease"])]), {}


# --- the run -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(np.asarray(values), p))


def users_create(count: int) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from annotator.accounts.models import Profile
    from annotator.accounts.roles import Role, role_groups_ensure

    group = role_groups_ensure()[Role.ANNOTATOR]
    user_model = get_user_model()
    hashed = make_password(PASSWORD)  # one hash for all: creating 50 users costs one PBKDF2 run
    names = [f"bench-ann-{i:03d}" for i in range(count)]
    existing = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
    for name in names:
        if name in existing:
            continue
        user = user_model.objects.create(username=name, password=hashed)
        user.groups.add(group)
        Profile.objects.create(user=user, language="en")
    return names


def db_checks(client_decisions: list[tuple[int, int | None]], started_at: Any) -> dict[str, int]:
    """From the database: items decided by two people, and 2xx decisions missing."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM (SELECT item_id FROM cleaning_decision WHERE created_at >= %s "
            "GROUP BY item_id HAVING count(DISTINCT user_id) > 1) twice",
            [started_at],
        )
        twice = int(cur.fetchone()[0])
        ids = [d for _, d in client_decisions if d is not None]
        found = 0
        for start in range(0, len(ids), 50_000):
            chunk = ids[start : start + 50_000]
            cur.execute("SELECT count(*) FROM cleaning_decision WHERE id = ANY(%s)", [chunk])
            found += int(cur.fetchone()[0])
        cur.execute("SELECT count(*) FROM cleaning_decision WHERE created_at >= %s", [started_at])
        in_db = int(cur.fetchone()[0])
    return {"twice_db": twice, "lost": len(ids) - found, "without_id": len(client_decisions) - len(ids), "in_db": in_db}


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone or /proc is not there)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(server_pid: int, base: str) -> dict[int, float]:
    """CPU seconds so far of the server's processes and of the PostgreSQL backends serving it."""
    pids = [server_pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()]
    with admin_connect(base) as conn:
        backends = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [SCRATCH_DB])]
    # PostgreSQL backends under negative ids, to tell the two apart
    return {**{pid: process_cpu_seconds(pid) for pid in pids}, **{-pid: process_cpu_seconds(pid) for pid in backends}}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> tuple[float, float]:
    """(server processes, PostgreSQL backends) CPU seconds between the two snapshots."""
    used = {pid: seconds - before.get(pid, 0.0) for pid, seconds in after.items()}
    return sum(v for pid, v in used.items() if pid > 0), sum(v for pid, v in used.items() if pid < 0)


def machine_load() -> str:
    """Load average and CPU pressure (share of time some task waited for a CPU): context for the figures."""
    parts = [f"load average {os.getloadavg()[0]:.1f}"]
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n")[0]
        parts.append("CPU pressure " + some.split()[2].replace("avg60=", "") + " % over the last minute")
    except (OSError, IndexError):
        pass
    return ", ".join(parts)


def run_phase(
    mode: str,
    args: Any,
    annotators: list[Annotator],
    api: Any,
    server_pid: int,
    base: str,
    busy: list[Any],
) -> bool:
    """One timed run of every annotator; prints its figures; True when nothing was leased twice or lost."""
    from django.utils import timezone

    paced = mode == "paced"
    for a in annotators:
        a.reset(
            args.think if paced else 0.0,
            args.page_pause if paced else 0.0,
            a.rng.uniform(0.0, args.ramp) if paced else 0.0,
        )
    print()
    if paced:
        # What the annotators offer at this pace: one decision per think time plus a page pause
        # per batch (the server's answer time left out: the load people bring, not what they get).
        offered = args.annotators / (args.think + args.page_pause / BATCH_SIZE_NOMINAL)
        print(
            f"== paced: think time per decision exponential, mean {args.think:.2f} s; pause per page "
            f"exponential, mean {args.page_pause:.2f} s; starts spread over {args.ramp:.0f} s; "
            f"offered load ~{offered:.1f} decisions/s"
        )
    else:
        print("== saturation: no think time (each annotator sends its next call as soon as the last returns)")
    run_started_db = timezone.now()
    barrier = threading.Barrier(len(annotators) + 1)
    deadline_box: list[float] = []

    def run(a: Annotator) -> None:
        barrier.wait()
        try:
            a.work(api, deadline_box[0])
        except Exception as exc:  # noqa: BLE001 - reported with the figures
            a.errors.append(f"stopped: {exc!r}")

    threads = [threading.Thread(target=run, args=(a,), daemon=True) for a in annotators]
    for t in threads:
        t.start()
    cpu_before = server_cpu(server_pid, base)
    client_before = time.process_time()
    deadline_box.append(time.monotonic() + args.seconds)
    t_run = time.monotonic()
    barrier.wait()
    time.sleep(min(args.seconds / 2, 30))
    load_during = machine_load()
    for t in threads:
        t.join(args.seconds + 120)
    elapsed = time.monotonic() - t_run
    cpu_after = server_cpu(server_pid, base)
    client_cpu = time.process_time() - client_before
    queue_ms = [v for a in annotators for v in a.queue_ms]
    decision_ms = [v for a in annotators for v in a.decision_ms]
    decided = [d for a in annotators for d in a.decided]
    holders: dict[int, set[str]] = defaultdict(set)
    for a in annotators:
        for batch in a.batches:
            for item in batch:
                holders[item].add(a.username)
    twice_clients = sum(1 for users in holders.values() if len(users) > 1)
    checks = db_checks(decided, run_started_db)
    errors = [e for a in annotators for e in a.errors]

    rate = len(decided) / elapsed if elapsed else 0.0
    q50, q95 = percentile(queue_ms, 50), percentile(queue_ms, 95)
    d50, d95 = percentile(decision_ms, 50), percentile(decision_ms, 95)
    print(f"machine during the run: {load_during}")
    print(f"{args.annotators} annotators on {len(busy)} labels for {elapsed:.0f} s ({mode})")
    print(
        f"queue page (lease a batch): n={len(queue_ms)}  p50 {q50:.1f} ms  p95 {q95:.1f} ms  "
        f"budget p95 <= {BUDGET_QUEUE_P95_MS:.0f} ms: {q95 / BUDGET_QUEUE_P95_MS:.2f}x of budget"
    )
    print(
        f"decision:                   n={len(decision_ms)}  p50 {d50:.1f} ms  p95 {d95:.1f} ms  "
        f"budget p95 <= {BUDGET_DECISION_P95_MS:.0f} ms: {d95 / BUDGET_DECISION_P95_MS:.2f}x of budget"
    )
    print(
        f"decisions/s sustained: {rate:.1f}  = {rate / LABEL_STUDIO_DECISIONS_PER_S:.1f}x Label Studio's "
        f"~{LABEL_STUDIO_DECISIONS_PER_S:.0f}/s (wanted >= {WANTED_FACTOR:.0f}x = "
        f"{WANTED_FACTOR * LABEL_STUDIO_DECISIONS_PER_S:.0f}/s)"
    )
    # CPU actually spent per decision (server, PostgreSQL backends and clients; lease and submit calls
    # included): unlike latency under a shared machine's load, this travels between machines.
    django_seconds, postgres_seconds = cpu_used(cpu_before, cpu_after)
    if decided:
        per_decision = 1000.0 * (django_seconds + postgres_seconds) / len(decided)
        cores = os.cpu_count() or 1
        print(
            f"CPU per decision (with its share of lease/submit calls): {per_decision:.1f} ms "
            f"= {1000.0 * django_seconds / len(decided):.1f} ms web server (Python) "
            f"+ {1000.0 * postgres_seconds / len(decided):.1f} ms PostgreSQL; "
            f"{1000.0 * client_cpu / len(decided):.1f} ms simulated clients; {cores} cores wholly for the server "
            f"would sustain ~{1000.0 * cores / per_decision:.0f} decisions/s"
        )
    print(
        f"items leased twice: {twice_clients} (clients' batches), "
        f"{checks['twice_db']} (database: decided by two people)"
    )
    print(
        f"decisions lost: {checks['lost']} of {len(decided)} answered 2xx ({checks['in_db']} in the database)"
        + (f"; {checks['without_id']} answers carried no decision id" if checks["without_id"] else "")
    )
    if errors:
        print(f"errors: {len(errors)}; first: {errors[:3]}")
    return twice_clients == 0 and checks["twice_db"] == 0 and checks["lost"] == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--labels-per-image", type=float, default=4.0)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--labels-busy", type=int, default=10, help="labels the annotators share (default 10)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mode",
        choices=["both", "saturation", "paced"],
        default="both",
        help="saturation (no think time), paced (people's pace), or both one after the other (default)",
    )
    parser.add_argument("--think", type=float, default=1.5, help="paced: mean think time per decision, s")
    parser.add_argument("--page-pause", type=float, default=3.0, help="paced: mean pause between pages, s")
    parser.add_argument(
        "--ramp", type=float, default=10.0, help="paced: annotators start at uniform random times in the first RAMP s"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database, and reuse a filled one")
    args = parser.parse_args(argv)

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point at a PostgreSQL server where creating a database is allowed")
    url = scratch_url(base)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    os.environ.setdefault("DEBUG", "1")  # this process only (fill, checks); the server runs with DEBUG off

    reuse = args.keep and scratch_exists(base)
    if not reuse:
        scratch_recreate(base)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from annotator.cleaning.services.rerank import queues_rerank
    from annotator.dataset.models import Image
    from annotator.taxonomy.services import taxonomy_load

    with connection.cursor() as cur:
        cur.execute("SELECT version()")
        pg_version = cur.fetchone()[0].split(",")[0]
    print(f"machine: {os.cpu_count()} cores; {pg_version}; scratch database {SCRATCH_DB}")
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    have = Image.objects.count() if reuse else 0
    if have and have != args.images:
        raise SystemExit(f"--keep: {SCRATCH_DB} holds {have} images, not {args.images}; drop it or match --images")
    if not have:
        taxonomy_load(data=bench_taxonomy(args.labels))
        t0 = time.perf_counter()
        counts = fill(args.images, args.labels_per_image, args.seed)
        print(f"fill: {counts} in {time.perf_counter() - t0:.0f} s (COPY)")
        t0 = time.perf_counter()
        totals = queues_rerank()
        print(f"queues_rerank: {totals} in {time.perf_counter() - t0:.0f} s")
    else:
        print(f"reusing {SCRATCH_DB}: {have:,} images")
    with connection.cursor() as cur:
        # Fresh statistics, as autovacuum would have them some minutes later: without them the
        # planner takes the brand-new queue table for empty and sorts a whole label's items per lease.
        cur.execute("ANALYZE")
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM dataset_imagelabel")
        n_labels = cur.fetchone()[0]
        cur.execute(
            "SELECT l.key, count(*) FROM cleaning_reviewitem r JOIN taxonomy_label l ON l.id = r.label_id "
            "WHERE r.status = 0 GROUP BY l.key ORDER BY count(*) DESC LIMIT %s",
            [args.labels_busy],
        )
        busy = cur.fetchall()
        cur.execute("SELECT count(*) FROM cleaning_reviewitem")
        n_items = cur.fetchone()[0]
    print(f"data: {Image.objects.count():,} images, {n_labels:,} labels, {n_items:,} queue items")
    names = users_create(args.annotators)
    connection.close()

    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"queue_load_server_{port}.log"
    server = server_start(url, port, args.workers, args.threads, log)
    print(f"server: gunicorn, {args.workers} workers x {args.threads} threads on 127.0.0.1:{port} (log {log})")
    api = CoreApi()
    annotators = [
        Annotator(port, name, busy[i % len(busy)][0], random.Random(args.seed * 1000 + i))
        for i, name in enumerate(names)
    ]
    modes = ["saturation", "paced"] if args.mode == "both" else [args.mode]
    print(f"setup {time.perf_counter() - started:.0f} s")
    ok = True
    try:
        for a in annotators:
            a.login()
        for mode in modes:
            ok = run_phase(mode, args, annotators, api, server.pid, base, busy) and ok
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()

    if not args.keep:
        from django.db import connections

        connections.close_all()
        scratch_drop(base)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
