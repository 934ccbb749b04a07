"""The customer's order tools: IP authorization, proxy replacement history, list links."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account
from core import models as base
from core.ids import new_public_id

from .order import Order
from .proxies import OrderProxy


def new_authorized_ip_id() -> str:
    return new_public_id("aip")


def new_list_link_id() -> str:
    return new_public_id("lnk")


def new_replacement_id() -> str:
    return new_public_id("rpl")


class AuthorizedIPQuerySet(models.QuerySet):
    def for_account(self, account: Account):
        return self.filter(account=account)


class AuthorizedIP(base.Model):
    """A public address whose traffic the account's IP-based proxies accept without credentials."""

    public_id = models.CharField(max_length=40, unique=True, default=new_authorized_ip_id, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="authorized_ips")
    ip = models.GenericIPAddressField(unpack_ipv4=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Reported by the provider, if it does")
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = AuthorizedIPQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "authorized IP"
        verbose_name_plural = "authorized IPs"
        constraints = [models.UniqueConstraint(fields=["account", "ip"], name="authorizedip_unique")]

    def __str__(self) -> str:
        return self.ip


class ProxyReplacement(base.Model):
    """One proxy of an order swapped for a fresh one (free of charge, within a daily quota)."""

    public_id = models.CharField(max_length=40, unique=True, default=new_replacement_id, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="replacements")
    old_proxy = models.ForeignKey(OrderProxy, on_delete=models.CASCADE, related_name="+")
    new_proxy = models.ForeignKey(OrderProxy, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["order", "created_at"])]

    def __str__(self) -> str:
        return f"{self.old_proxy} → {self.new_proxy}"


class OrderListLinkQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class OrderListLink(base.Model):
    """A secret URL serving an order's proxy list without an API key; only the token's hash is kept."""

    public_id = models.CharField(max_length=40, unique=True, default=new_list_link_id, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="list_links")
    token_hash = models.CharField(max_length=64, unique=True)
    token_hint = models.CharField(max_length=8, help_text="The token's first characters, to tell links apart")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = OrderListLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["order"], condition=Q(revoked_at__isnull=True), name="orderlistlink_live")]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.token_hint}…)"
