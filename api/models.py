"""The API platform's one table: the responses kept for `Idempotency-Key` replays."""

from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """The first response to an `Idempotency-Key`, replayed for `IDEMPOTENCY_TTL_HOURS` (24 h)."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "portal_idempotencyrecord"  # made by portal's migrations before api/ had its own
        constraints = [
            models.UniqueConstraint(fields=["account", "key"], name="idempotency_unique_account_key"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code})"
