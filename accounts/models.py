from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property

from core import models as base
from core.ids import new_account_id
from core.money import MoneyField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra):
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email, password=None, **extra):
        """An operator (`manage.py createsuperuser`), who signs in through allauth like everyone.

        allauth's login and TOTP set-up need a verified address; the one typed at the
        server's console is taken as verified."""
        from allauth.account.models import EmailAddress

        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        with transaction.atomic(using=self._db):
            user = self._create_user(email, password, **extra)
            EmailAddress.objects.using(self._db).create(user=user, email=user.email, primary=True, verified=True)
        return user


class User(AbstractUser):
    """A person who logs in with an e-mail address; belongs to accounts via memberships."""

    username = None
    email = models.EmailField("e-mail address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    def __str__(self) -> str:
        return self.email


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PREMIUM = "premium", "Premium"


class Account(base.Model):
    """The tenant: owns the balance and every customer object."""

    public_id = models.CharField(max_length=40, unique=True, default=new_account_id, editable=False)
    name = models.CharField(max_length=120)
    # Cached balance; the ledger (billing.LedgerEntry) is the truth and ledger_post the only writer.
    balance = MoneyField()
    premium_until = models.DateTimeField(null=True, blank=True)
    # balance.low is sent once when a charge leaves the balance under the threshold, and
    # again only after the balance has risen above it (`low_balance_alerted` remembers which).
    low_balance_threshold = MoneyField(null=True, blank=True, default=None)
    low_balance_alerted = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True, help_text="Unticked: the account is suspended.")
    suspended_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def is_premium(self) -> bool:
        return self.premium_until is not None and self.premium_until > timezone.now()

    @property
    def tier(self) -> str:
        return Tier.PREMIUM if self.is_premium else Tier.FREE

    @cached_property
    def owner_email(self) -> str:
        membership = self.memberships.filter(role=Role.OWNER).select_related("user").first()
        return membership.user.email if membership else ""


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(base.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "account"], name="membership_unique_user_account"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} as {self.role}"


class Invitation(base.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # SHA-256 of the token sent by e-mail; the token itself is never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "email"])]

    def __str__(self) -> str:
        return f"{self.email} → {self.account}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class AuditLogEntry(base.Model):
    """Who did what, when, from which address. Append-only."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="audit_entries")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=255, help_text="E-mail, API key prefix or 'operator'.")
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=255, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"])]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"


class Plan(base.Model):
    """Operator-edited plan: the tier it grants, its price, rate limits per category and quotas."""

    name = models.CharField(max_length=80)
    tier = models.CharField(max_length=10, choices=Tier.choices, unique=True)
    price = MoneyField()
    period_days = models.PositiveIntegerField(default=30)
    limit_general = models.PositiveIntegerField(help_text="Requests per minute")
    limit_order_create = models.PositiveIntegerField(help_text="Orders per minute")
    limit_check = models.PositiveIntegerField(help_text="Check jobs per hour")
    limit_export = models.PositiveIntegerField(help_text="Exports per hour")
    max_check_job_size = models.PositiveIntegerField(default=1000, help_text="Proxies per check job")
    max_subusers = models.PositiveIntegerField(default=20, help_text="Residential sub-user proxies")
    is_public = models.BooleanField(default=True)

    class Meta:
        # Moved from billing; the table keeps its name (state-only migrations).
        db_table = "billing_plan"
        ordering = ["price"]

    def __str__(self) -> str:
        return f"{self.name} ({self.tier})"

    @property
    def limits(self) -> dict[str, int]:
        return {
            "general": self.limit_general,
            "order_create": self.limit_order_create,
            "check": self.limit_check,
            "export": self.limit_export,
        }
