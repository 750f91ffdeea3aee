# One image per place: (storage_root, relative_path) becomes unique; the unique index
# replaces the plain one on the same columns.

from django.db import migrations, models


def refuse_duplicate_places(apps, schema_editor):
    """Name the places that hold several images (files changed after their import) before
    the unique index fails on them with a bare "could not create unique index"."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            """SELECT storage_root, relative_path, array_agg(id ORDER BY id)
               FROM dataset_image GROUP BY storage_root, relative_path HAVING count(*) > 1
               ORDER BY storage_root, relative_path LIMIT 10"""
        )
        rows = cursor.fetchall()
    if rows:
        places = "; ".join(f"{root}/{path}: images {', '.join(map(str, ids))}" for root, path, ids in rows)
        raise RuntimeError(
            "several images are registered at the same place (the file changed after it was imported); "
            f"keep one image per place, then migrate again: {places}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("dataset", "0003_import_speed_and_label_source"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicate_places, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="image",
            constraint=models.UniqueConstraint(
                fields=("storage_root", "relative_path"), name="dataset_image_location_unique"
            ),
        ),
        migrations.RemoveIndex(
            model_name="image",
            name="dataset_image_location_idx",
        ),
    ]
