"""Ledger entries name the order they pay for or refund (`order_public_id`, the API's `order_id`).

Entries posted before this column existed are filled from their reference, which embeds the
order's public id (`order:<id>:charge`, `order:<id>:refund`, `order:<id>:extend:<n>`). The
entries are immutable, so on PostgreSQL the backfill runs with the immutability trigger
disabled inside this migration's transaction; the trigger's function is then replaced by one
that also refuses any later change of the new column.
"""

from importlib import import_module

from django.db import migrations, models

BACKFILL_POSTGRES = r"""
ALTER TABLE billing_ledgerentry DISABLE TRIGGER billing_ledgerentry_immutable;
UPDATE billing_ledgerentry SET order_public_id = split_part(reference, ':', 2)
    WHERE order_public_id IS NULL AND reference LIKE 'order:ord\_%:%';
ALTER TABLE billing_ledgerentry ENABLE TRIGGER billing_ledgerentry_immutable;
"""

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION billing_ledgerentry_refuse_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.created_by_id IS NULL
       AND (NEW.id, NEW.public_id, NEW.account_id, NEW.type, NEW.amount, NEW.balance_after,
            NEW.description, NEW.reference, NEW.order_public_id, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.public_id, OLD.account_id, OLD.type, OLD.amount, OLD.balance_after,
            OLD.description, OLD.reference, OLD.order_public_id, OLD.created_at)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'ledger entries are immutable: % refused on billing_ledgerentry id %', TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation',
              HINT = 'Post a correcting entry through billing.services.ledger_post instead.';
END;
$$ LANGUAGE plpgsql;
"""


def backfill(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKFILL_POSTGRES, params=None)
        schema_editor.execute(TRIGGER_FUNCTION, params=None)
        return
    entry = apps.get_model("billing", "LedgerEntry")  # the historical model: a plain manager
    rows = entry.objects.filter(order_public_id__isnull=True, reference__startswith="order:ord_")
    for pk, reference in rows.values_list("pk", "reference").iterator():
        parts = reference.split(":")
        if len(parts) >= 3:
            entry.objects.filter(pk=pk).update(order_public_id=parts[1])


def restore_trigger_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        previous = import_module("billing.migrations.0003_ledger_immutable_trigger").CREATE
        schema_editor.execute(previous, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0006_plan_to_accounts"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="order_public_id",
            field=models.CharField(blank=True, db_index=True, max_length=40, null=True),
        ),
        migrations.RunPython(backfill, restore_trigger_function, elidable=False),
    ]
