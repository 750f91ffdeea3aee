"""Evidence partitioned by source: a model version's re-predict swaps its own partition whole.

``dataset_evidence`` becomes a table partitioned by LIST (source_id): each model version's
source that has evidence gets its own partition ``dataset_evidence_s<source id>``; the DEFAULT
partition ``dataset_evidence_default`` holds every other source (imports, competitors, crawls)
and carries, per model source, a CHECK (source_id <> <id>) that lets ATTACH PARTITION skip
scanning it (see annotator/dataset/partitions.py). The rows of the old table are kept, ids
included.

Keys and indexes are each partition's own, as each is written (partitions.py says why): the
parent has none but the image and label foreign keys. The default partition, written row by
row, keeps the old table's keys: primary key (id), unique (image_id, label_id, source_id),
the source foreign key, and (source_id, label_id) for its reads by label. A model version's
partition, written whole by a re-predict, has (image_id) and (label_id) WHERE suggested, and
a trigger refusing row-by-row writes (its rows are unique per (image, label) as the re-predict
writes them). Django's state keeps ``id`` as the primary key and the unique constraint.

Ids stay unique across the table without an index spanning it: the default partition draws
them from the sequence, below 2**40 (a CHECK); a re-predict numbers its partition's rows
``source_id * 2**40 + n`` (a CHECK of its own), so a COPY of millions of rows draws no
sequence value at all. A partition migrated here keeps its ids (unique, from the old table's
key; sequence values are never drawn twice). Migrated back, the table keeps every id and its
sequence goes on below 2**40. PostgreSQL 15
has no identity column on a partitioned table: ``id`` defaults to ``nextval`` of a sequence it
owns.
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
#: Ids of the default partition (from the sequence) stay below this; a version's partition
#: holds source_id * ID_BLOCK + 1 .. (see annotator/dataset/partitions.py, which repeats it).
ID_BLOCK = 2**40
#: The trigger function that keeps row-by-row writes out of a version's partition.
REFUSE_FUNCTION = "dataset_evidence_version_write_refuse"
DEFERRED = "DEFERRABLE INITIALLY DEFERRED"


def _foreign_key_add(execute, table, name, column, target):
    execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) REFERENCES {target} (id) {DEFERRED}")


def _keys_unpartitioned_add(execute):
    execute(
        "ALTER TABLE dataset_evidence ADD CONSTRAINT dataset_evidence_unique UNIQUE (image_id, label_id, source_id)"
    )
    execute("CREATE INDEX dataset_evi_label_i_351aa1_idx ON dataset_evidence (label_id, source_id)")
    execute("CREATE INDEX dataset_evidence_source_id_fb474a57 ON dataset_evidence (source_id)")
    for name, column, target in FOREIGN_KEYS:
        _foreign_key_add(execute, "dataset_evidence", name, column, target)


def partition(apps, schema_editor):
    execute = schema_editor.execute
    with schema_editor.connection.cursor() as cur:
        # The sequence's last value: ids of a version's block (a partitioned table migrated
        # back and forth) are not sequence values.
        cur.execute(f"SELECT coalesce(max(id), 0) FROM dataset_evidence WHERE id < {ID_BLOCK}")
        last = cur.fetchone()[0]
        cur.execute(
            "SELECT DISTINCT e.source_id FROM dataset_evidence e "
            "JOIN dataset_evidencesource s ON s.id = e.source_id WHERE s.kind = 'model' ORDER BY 1"
        )
        model_sources = [int(row[0]) for row in cur.fetchall()]
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
    execute(
        f"""CREATE FUNCTION {REFUSE_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation', TABLE = TG_TABLE_NAME,
                MESSAGE = 'the evidence of model version source ' || NEW.source_id
                          || ' is written only whole, by a re-predict';
            END $$"""
    )
    execute("CREATE TABLE dataset_evidence_default PARTITION OF dataset_evidence DEFAULT")
    execute(f"ALTER TABLE dataset_evidence_default ADD CONSTRAINT dataset_evidence_default_ids CHECK (id < {ID_BLOCK})")
    for source_id in model_sources:
        execute(
            f"ALTER TABLE dataset_evidence_default ADD CONSTRAINT dataset_evidence_default_not_s{source_id} "
            f"CHECK (source_id <> {source_id})"
        )
        execute(
            f"CREATE TABLE dataset_evidence_s{source_id} PARTITION OF dataset_evidence FOR VALUES IN ({source_id})"
        )
    execute(f"INSERT INTO dataset_evidence ({COLUMNS}) SELECT {COLUMNS} FROM dataset_evidence_unpartitioned")
    execute("DROP TABLE dataset_evidence_unpartitioned")
    image_fk, label_fk, source_fk = FOREIGN_KEYS
    for name, column, target in (image_fk, label_fk):
        _foreign_key_add(execute, "dataset_evidence", name, column, target)
    default = "dataset_evidence_default"
    execute(f"ALTER TABLE {default} ADD CONSTRAINT {default}_pkey PRIMARY KEY (id)")
    execute(f"ALTER TABLE {default} ADD CONSTRAINT {default}_unique UNIQUE (image_id, label_id, source_id)")
    execute(f"CREATE INDEX {default}_source_label ON {default} (source_id, label_id)")
    _foreign_key_add(execute, default, source_fk[0], source_fk[1], source_fk[2])
    for source_id in model_sources:
        table = f"dataset_evidence_s{source_id}"
        execute(f"CREATE INDEX {table}_image ON {table} (image_id)")
        execute(f"CREATE INDEX {table}_label_suggested ON {table} (label_id) WHERE suggested")
        execute(
            f"CREATE TRIGGER {table}_whole BEFORE INSERT OR UPDATE OF image_id, label_id ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {REFUSE_FUNCTION}()"
        )


def unpartition(apps, schema_editor):
    execute = schema_editor.execute
    execute("ALTER TABLE dataset_evidence RENAME TO dataset_evidence_partitioned")
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
        f"(SELECT coalesce(max(id), 0) + 1 FROM dataset_evidence WHERE id < {ID_BLOCK}), false)"
    )
    execute("DROP TABLE dataset_evidence_partitioned CASCADE")
    execute(f"DROP FUNCTION {REFUSE_FUNCTION}()")
    _keys_unpartitioned_add(execute)


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
