from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core import models as base
from core.ids import new_key_id


class ApiKeyQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)

    def active(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class ApiKey(base.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_key_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    display_prefix = models.CharField(max_length=40, help_text="Shown in the dashboard, e.g. pk_live_20fe...")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    ip_allowlist = models.JSONField(default=list, blank=True, help_text="Addresses or CIDR ranges; empty: any.")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def created_by_label(self) -> str:
        """Who made the key: the member's e-mail, or "operator" (`manage.py createapikey`)."""
        return self.created_by.email if self.created_by_id else "operator"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired
