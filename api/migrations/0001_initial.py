# IdempotencyRecord moved from portal to api: the table stays where portal's 0001 made it;
# only Django's record of which app owns the model changes (portal's 0002 forgets it).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('portal', '0002_idempotencyrecord_to_api'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='IdempotencyRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=255)),
                        ('request_hash', models.CharField(max_length=64)),
                        ('status_code', models.PositiveSmallIntegerField(null=True)),
                        ('response', models.JSONField(null=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('expires_at', models.DateTimeField(db_index=True)),
                        ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.account')),
                    ],
                    options={
                        'db_table': 'portal_idempotencyrecord',
                        'constraints': [models.UniqueConstraint(fields=('account', 'key'), name='idempotency_unique_account_key')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
