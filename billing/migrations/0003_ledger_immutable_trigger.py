"""PostgreSQL refuses UPDATE and DELETE on ledger entries (the model refuses them too).

The one update allowed is the SET NULL of `created_by_id` when the user who created an
entry is deleted, with every other column unchanged. TRUNCATE (test teardown, an
operator's deliberate reset) is not a row operation and is not affected. Other database
vendors rely on the model's guards alone.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION billing_ledgerentry_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.created_by_id IS NULL
       AND (NEW.id, NEW.public_id, NEW.account_id, NEW.type, NEW.amount, NEW.balance_after,
            NEW.description, NEW.reference, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.public_id, OLD.account_id, OLD.type, OLD.amount, OLD.balance_after,
            OLD.description, OLD.reference, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger entries are immutable: % refused on billing_ledgerentry id %', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Post a correcting entry through billing.services.ledger_post instead.';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS billing_ledgerentry_immutable ON billing_ledgerentry;
CREATE TRIGGER billing_ledgerentry_immutable
    BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledgerentry_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS billing_ledgerentry_immutable ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledgerentry_refuse_change();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0002_deposits"),
    ]

    operations = [
        migrations.RunPython(create_trigger, drop_trigger, elidable=False),
    ]
