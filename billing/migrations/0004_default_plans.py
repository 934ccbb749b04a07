"""Installs the default plans (free and premium; docs/api.md#rate-limits). Existing rows are left as edited."""

from decimal import Decimal

from django.db import migrations

DEFAULT_PLANS = [
    {
        "tier": "free", "name": "Free", "price": Decimal("0.00"), "period_days": 30,
        "limit_general": 60, "limit_order_create": 10, "limit_check": 20, "limit_export": 10,
        "max_check_job_size": 1000, "max_subusers": 20,
    },
    {
        "tier": "premium", "name": "Premium", "price": Decimal("29.00"), "period_days": 30,
        "limit_general": 300, "limit_order_create": 30, "limit_check": 200, "limit_export": 60,
        "max_check_job_size": 10000, "max_subusers": 200,
    },
]


def install(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for values in DEFAULT_PLANS:
        tier = values["tier"]
        Plan.objects.get_or_create(tier=tier, defaults={k: v for k, v in values.items() if k != "tier"})


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0003_ledger_immutable_trigger"),
    ]

    operations = [
        migrations.RunPython(install, migrations.RunPython.noop),
    ]
