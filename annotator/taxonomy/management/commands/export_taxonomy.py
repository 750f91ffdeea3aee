"""python manage.py export_taxonomy [--out FILE.json]"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.taxonomy.services import taxonomy_export


class Command(BaseCommand):
    help = "Write the taxonomy as JSON (the format load_taxonomy reads and training uses), to stdout by default."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, default=None, help="write to this file instead of stdout")

    def handle(self, *args: Any, out: Path | None, **options: Any) -> None:
        text = json.dumps(taxonomy_export(), ensure_ascii=False, indent=2) + "\n"
        if out is None:
            self.stdout.write(text, ending="")
            return
        try:
            # Written beside the target and moved into place: a reader never sees half a file.
            out.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temp, out)
        except OSError as exc:
            raise CommandError(f"{out}: cannot write: {exc.strerror or exc}") from None
        self.stderr.write(self.style.SUCCESS(f"taxonomy written to {out}"))
