# Snapshots and label history never change once written. save() already refuses an existing
# row; QuerySet.update(), raw SQL and ON DELETE SET NULL do not go through save(), so the
# database refuses every UPDATE of these tables, and a snapshot's creator is PROTECTed.
# Deleting stays possible (history goes with its image); TRUNCATE does not fire the trigger.
# Note: under session_replication_role = replica (the import's bulk inserts) ordinary
# triggers do not fire; the importer only INSERTs there.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE FUNCTION dataset_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows never change once written: UPDATE refused (row id %)', TG_TABLE_NAME, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER dataset_snapshot_no_update BEFORE UPDATE ON dataset_snapshot
    FOR EACH ROW EXECUTE FUNCTION dataset_refuse_update();
CREATE TRIGGER dataset_labelhistory_no_update BEFORE UPDATE ON dataset_labelhistory
    FOR EACH ROW EXECUTE FUNCTION dataset_refuse_update();
"""

DROP = """
DROP TRIGGER dataset_labelhistory_no_update ON dataset_labelhistory;
DROP TRIGGER dataset_snapshot_no_update ON dataset_snapshot;
DROP FUNCTION dataset_refuse_update();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("dataset", "0004_image_location_unique"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="snapshot",
            name="created_by",
            field=models.ForeignKey(
                blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, to=settings.AUTH_USER_MODEL
            ),
        ),
        migrations.RunSQL(CREATE, DROP),
    ]
