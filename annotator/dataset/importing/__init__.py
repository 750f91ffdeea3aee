"""The import core, split by concern. The public interface is ``annotator.dataset.ingest``.

- ``errors``: ImportFailed (file, row, field, message) and ProgressFn;
- ``images``: ImageSpec and register_images (validation, hashing, get-or-create by content);
- ``staging``: COPY into TEMP tables and the raw psycopg connection inside the atomic block;
- ``truth``: apply_truth / apply_evidence, set-based upserts with one history row per change;
- ``progress``: job progress written through an autocommit side connection;
- ``jobs``: import_run / import_job_execute.
"""
