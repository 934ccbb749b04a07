import ipaddress
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, User
from accounts.services import audit_log
from apikeys import keyformat
from apikeys.models import ApiKey
from apikeys.scopes import ALL_SCOPES
from core.errors import Conflict, DomainValidationError, NotFound
from core.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters

EXPIRATION_CHOICES = {
    "30d": ("30 days", relativedelta(days=30)),
    "90d": ("90 days", relativedelta(days=90)),
    "6m": ("6 months", relativedelta(months=6)),
    "1y": ("1 year", relativedelta(years=1)),
    "never": ("No expiration", None),
}
LAST_USED_RESOLUTION = timedelta(minutes=1)


def parse_ip_allowlist(entries: list[str] | str) -> list[str]:
    """Validates addresses and CIDR ranges; returns them normalised."""
    if isinstance(entries, str):
        entries = [e for e in entries.replace(",", "\n").splitlines()]
    cleaned, bad = [], []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            cleaned.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            bad.append(entry)
    if bad:
        raise DomainValidationError({"ip_allowlist": f"Not an IP address or CIDR range: {', '.join(bad)}"})
    return cleaned


def apikey_create(
    *,
    account: Account,
    name: str,
    scopes: list[str],
    expiration: str,
    created_by: User | None,
    ip_allowlist: list[str] | str = (),
    ip: str | None = None,
    actor_label: str = "",
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with the full secret, which exists only in this return value.

    `actor_label` names who acted when that is not `created_by` (e.g. an operator's command).
    """
    name = (name or "").strip()
    scopes = [s.strip() for s in scopes if isinstance(s, str) and s.strip()]
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the key a name."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    elif has_control_characters(name):
        errors["name"] = CONTROL_CHARACTERS_MESSAGE
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if not scopes:
        errors["scopes"] = "Choose at least one permission."
    elif unknown:
        errors["scopes"] = f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(ALL_SCOPES)}."
    if expiration not in EXPIRATION_CHOICES:
        errors["expiration"] = f"Choose one of {', '.join(EXPIRATION_CHOICES)}."
    try:
        allowlist = parse_ip_allowlist(ip_allowlist)
    except DomainValidationError as exc:
        errors.update({k: v[0] for k, v in exc.meta["fields"].items()})
    if errors:
        raise DomainValidationError(errors)
    delta = EXPIRATION_CHOICES[expiration][1]
    now = timezone.now()
    prefix = settings.API_KEY_PREFIX
    full_key = keyformat.generate(prefix)
    with transaction.atomic():
        # The account row lock serialises concurrent creations so the limit holds exactly.
        locked = Account.objects.select_for_update().get(pk=account.pk)
        if not locked.is_active:
            raise Conflict("This account is suspended; new API keys cannot be created.")
        if ApiKey.objects.for_account(account).active().count() >= settings.API_KEYS_PER_ACCOUNT:
            raise Conflict(
                f"This account already has {settings.API_KEYS_PER_ACCOUNT} active API keys, the maximum. "
                "Revoke one before creating another."
            )
        api_key = ApiKey.objects.create(
            account=account,
            name=name,
            display_prefix=keyformat.display_prefix(full_key, prefix),
            key_hash=keyformat.digest(full_key),
            scopes=sorted(set(scopes), key=ALL_SCOPES.index),
            ip_allowlist=allowlist,
            expires_at=now + delta if delta else None,
            created_by=created_by,
        )
        audit_log(
            account=account, actor=created_by, actor_label=actor_label, action="apikey.created",
            target=f"{api_key.name} ({api_key.display_prefix})", ip=ip,
            details={"scopes": api_key.scopes, "expiration": expiration},
        )
    return api_key, full_key


@transaction.atomic
def apikey_revoke(
    *, account: Account, key_id: str, revoked_by: User | None, ip: str | None = None, actor_label: str = "",
    details: dict | None = None,
) -> ApiKey:
    """Revokes at once and for good: the save moves the account's auth version, so every web
    process refuses the key from its next request on (api.snapshots)."""
    api_key = ApiKey.objects.select_for_update().for_account(account).filter(public_id=key_id).first()
    if api_key is None:
        raise NotFound("No such API key.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.revoked_by = revoked_by
        api_key.save(update_fields=["revoked_at", "revoked_by"])
        audit_log(
            account=account, actor=revoked_by,
            actor_label=actor_label or ("" if revoked_by else "operator"),
            action="apikey.revoked", target=f"{api_key.name} ({api_key.display_prefix})", ip=ip, details=details,
        )
    return api_key


@transaction.atomic
def apikeys_revoke_created_by(
    *, user: User, account: Account | None, revoked_by: User | None, reason: str, ip: str | None = None,
    actor_label: str = "",
) -> int:
    """Revokes the keys `user` created in `account` (in every account when None); the count.

    Keys are an owner's and admin's right: whatever ends that right (removal, a lower role,
    the user deleted) calls this in its own transaction, so the change and the revocation
    commit together. Each key goes through `apikey_revoke`, as the dashboard's Revoke does."""
    keys = ApiKey.objects.filter(created_by=user, revoked_at__isnull=True).select_related("account")
    if account is not None:
        keys = keys.for_account(account)
    revoked = 0
    for key in keys.order_by("pk"):
        apikey_revoke(
            account=key.account, key_id=key.public_id, revoked_by=revoked_by, ip=ip, actor_label=actor_label,
            details={"reason": reason, "member": user.email},
        )
        revoked += 1
    return revoked


def apikey_touch(api_key: ApiKey) -> bool:
    """Records use at most once a minute per key; True when it did.

    Nothing is written while the stored time is under a minute old (the common case costs no
    query at all); otherwise one conditional UPDATE, so concurrent processes write it once.
    """
    now = timezone.now()
    stale_before = now - LAST_USED_RESOLUTION
    if api_key.last_used_at is not None and api_key.last_used_at > stale_before:
        return False
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale_before)
    ).update(last_used_at=now)
    api_key.last_used_at = now
    return True
