"""Evidence partitioned by source: a model version's re-predict swaps its own partition whole.

``dataset_evidence`` becomes a table partitioned by LIST (source_id): each model version's
source that has evidence gets its own partition ``dataset_evidence_s<source id>``; the DEFAULT
partition ``dataset_evidence_default`` holds every other source (imports, competitors, crawls)
and carries, per model source, a CHECK (source_id <> <id>) that lets ATTACH PARTITION skip
scanning it (see annotator/dataset/partitions.py). The rows of the old table are kept.

The parent's indexes are the keys only; the reads by label use each partition's own index:
(source_id, label_id) in the default partition, (label_id) WHERE suggested in a model
version's, far cheaper to build at each re-predict than a (source, label) of every row.

A partitioned table's unique constraints must hold the partition key: the primary key in the
database becomes (id, source_id) while Django keeps ``id`` as the primary key (ids still come
from one sequence, so they stay unique). PostgreSQL 15 has no identity column on a partitioned
table: ``id`` defaults to ``nextval`` of a sequence it owns, cached per session so that a COPY
drawing millions of ids stays cheap.
"""

import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEYS = (
    ("dataset_evidence_image_id_dee2b7de_fk_dataset_image_id", "image_id", "dataset_image"),
    ("dataset_evidence_label_id_c036bdbb_fk_taxonomy_label_id", "label_id", "taxonomy_label"),
    ("dataset_evidence_source_id_fb474a57_fk_dataset_e", "source_id", "dataset_evidencesource"),
)
COLUMNS = "id, score, keyword, created_at, label_id, source_id, image_id, suggested"
ID_CACHE = 1000


def _add_keys_and_indexes(execute, *, partitioned=True):
    execute(
        "ALTER TABLE dataset_evidence ADD CONSTRAINT dataset_evidence_unique UNIQUE (image_id, label_id, source_id)"
    )
    if not partitioned:  # the indexes of 0007
        execute("CREATE INDEX dataset_evi_label_i_351aa1_idx ON dataset_evidence (label_id, source_id)")
        execute("CREATE INDEX dataset_evidence_source_id_fb474a57 ON dataset_evidence (source_id)")
    for name, column, table in FOREIGN_KEYS:
        execute(
            f"ALTER TABLE dataset_evidence ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {table} (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )


def partition(apps, schema_editor):
    execute = schema_editor.execute
    with schema_editor.connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM dataset_evidence")
        last = cur.fetchone()[0]
        cur.execute(
            "SELECT DISTINCT e.source_id FROM dataset_evidence e "
            "JOIN dataset_evidencesource s ON s.id = e.source_id WHERE s.kind = 'model' ORDER BY 1"
        )
        model_sources = [row[0] for row in cur.fetchall()]
    execute("ALTER TABLE dataset_evidence RENAME TO dataset_evidence_unpartitioned")
    execute(
        "ALTER TABLE dataset_evidence_unpartitioned RENAME CONSTRAINT dataset_evidence_pkey TO dataset_evidence_u_pkey"
    )
    execute(
        "ALTER TABLE dataset_evidence_unpartitioned RENAME CONSTRAINT dataset_evidence_unique TO dataset_evidence_u_unique"
    )
    execute("ALTER SEQUENCE dataset_evidence_id_seq RENAME TO dataset_evidence_u_id_seq")
    execute(
        """CREATE TABLE dataset_evidence (
             id bigint NOT NULL,
             score double precision NULL,
             keyword varchar(300) NOT NULL,
             created_at timestamp with time zone NOT NULL,
             label_id bigint NOT NULL,
             source_id bigint NOT NULL,
             image_id bigint NOT NULL,
             suggested boolean NOT NULL DEFAULT true
           ) PARTITION BY LIST (source_id)"""
    )
    execute(f"CREATE SEQUENCE dataset_evidence_id_seq CACHE {ID_CACHE} OWNED BY dataset_evidence.id")
    execute("ALTER TABLE dataset_evidence ALTER COLUMN id SET DEFAULT nextval('dataset_evidence_id_seq')")
    if last:
        execute("SELECT setval('dataset_evidence_id_seq', %s)", [last])
    execute("CREATE TABLE dataset_evidence_default PARTITION OF dataset_evidence DEFAULT")
    for source_id in model_sources:
        execute(
            f"ALTER TABLE dataset_evidence_default ADD CONSTRAINT dataset_evidence_default_not_s{int(source_id)} "
            f"CHECK (source_id <> {int(source_id)})"
        )
        execute(
            f"CREATE TABLE dataset_evidence_s{int(source_id)} PARTITION OF dataset_evidence "
            f"FOR VALUES IN ({int(source_id)})"
        )
    execute(f"INSERT INTO dataset_evidence ({COLUMNS}) SELECT {COLUMNS} FROM dataset_evidence_unpartitioned")
    execute("DROP TABLE dataset_evidence_unpartitioned")
    execute("ALTER TABLE dataset_evidence ADD CONSTRAINT dataset_evidence_pkey PRIMARY KEY (id, source_id)")
    _add_keys_and_indexes(execute)
    # Each partition's own index for the reads by label (partitions.py says why they differ).
    execute("CREATE INDEX dataset_evidence_default_source_label ON dataset_evidence_default (source_id, label_id)")
    for source_id in model_sources:
        table = f"dataset_evidence_s{int(source_id)}"
        execute(f"CREATE INDEX {table}_label_suggested ON {table} (label_id) WHERE suggested")


def unpartition(apps, schema_editor):
    execute = schema_editor.execute
    execute("ALTER TABLE dataset_evidence RENAME TO dataset_evidence_partitioned")
    execute(
        "ALTER TABLE dataset_evidence_partitioned RENAME CONSTRAINT dataset_evidence_pkey TO dataset_evidence_p_pkey"
    )
    execute(
        "ALTER TABLE dataset_evidence_partitioned RENAME CONSTRAINT dataset_evidence_unique TO dataset_evidence_p_unique"
    )
    execute("ALTER SEQUENCE dataset_evidence_id_seq RENAME TO dataset_evidence_p_id_seq")
    execute(
        """CREATE TABLE dataset_evidence (
             id bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
             score double precision NULL,
             keyword varchar(300) NOT NULL,
             created_at timestamp with time zone NOT NULL,
             label_id bigint NOT NULL,
             source_id bigint NOT NULL,
             image_id bigint NOT NULL,
             suggested boolean NOT NULL DEFAULT true
           )"""
    )
    execute(f"INSERT INTO dataset_evidence ({COLUMNS}) SELECT {COLUMNS} FROM dataset_evidence_partitioned")
    execute(
        "SELECT setval(pg_get_serial_sequence('dataset_evidence', 'id'), "
        "(SELECT coalesce(max(id), 0) + 1 FROM dataset_evidence), false)"
    )
    execute("DROP TABLE dataset_evidence_partitioned CASCADE")
    _add_keys_and_indexes(execute, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [
        ("dataset", "0007_evidence_suggested_refreshed"),
        ("taxonomy", "0002_label_not_own_parent"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="evidence", name="dataset_evi_label_i_351aa1_idx"),
                migrations.AlterField(
                    model_name="evidence",
                    name="source",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="evidence",
                        to="dataset.evidencesource",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(partition, unpartition)],
        ),
    ]
