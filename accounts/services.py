import hashlib
import secrets
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, AuditLogEntry, Invitation, Membership, Role, User
from api.snapshots import account_auth_changed
from branding.services import mail_send
from core.errors import Conflict, DomainValidationError, NotFound
from core.money import MONEY_MAX, money_str, to_money
from core.text import (
    CONTROL_CHARACTERS_MESSAGE,
    has_control_characters,
    single_line,
)

INVITATION_TTL = timedelta(days=7)


def staff_mail(subject: str, message: str) -> int:
    """E-mails every active staff user (operator alerts); returns how many were sent."""
    recipients = list(User.objects.filter(is_staff=True, is_active=True).exclude(email="")
                      .values_list("email", flat=True))
    if not recipients:
        return 0
    return mail_send(subject=subject, message=message, recipient_list=recipients, fail_silently=True)


def account_lock(account_id: int) -> Account:
    """Locks the account row until the transaction ends, and returns it fresh.

    Every writer of an account's money or limits takes this first, so they queue. It is
    FOR NO KEY UPDATE: rows that merely reference the account (an order, an entry) take
    KEY SHARE on it, which this does not wait for, so inserting them before or after the
    lock can never deadlock with another transaction's lock."""
    return Account.objects.select_for_update(no_key=True).get(pk=account_id)


def audit_log(
    *,
    account: Account,
    action: str,
    actor: User | None = None,
    actor_label: str = "",
    target: str = "",
    ip: str | None = None,
    details: dict | None = None,
) -> AuditLogEntry:
    return AuditLogEntry.objects.create(
        account=account,
        actor=actor,
        actor_label=actor_label or (actor.email if actor else "operator"),
        action=action,
        target=target[:255],
        ip_address=ip or None,
        details=details or {},
    )


ACCOUNT_NAME_MAX = 120


def account_name_clean(name: str) -> str:
    """An account name as typed, trimmed; refused when empty, too long or holding control
    characters (it reaches e-mail subjects and the audit log)."""
    name = (name or "").strip()
    if not name:
        raise DomainValidationError({"name": "Give the account a name."})
    if len(name) > ACCOUNT_NAME_MAX:
        raise DomainValidationError({"name": f"At most {ACCOUNT_NAME_MAX} characters."})
    if has_control_characters(name):
        raise DomainValidationError({"name": CONTROL_CHARACTERS_MESSAGE})
    return name


@transaction.atomic
def account_create_for_user(*, user: User, name: str | None = None) -> Account:
    """Sign-up: a personal account with the user as owner."""
    if name:
        name = account_name_clean(name)
    else:  # an address's local part may be quoted and hold control characters
        name = single_line(f"{user.email.split('@')[0]}'s account")[:ACCOUNT_NAME_MAX]
    account = Account.objects.create(name=name)
    Membership.objects.create(user=user, account=account, role=Role.OWNER)
    return account


@transaction.atomic
def account_rename(*, account: Account, name: str, actor: User, ip: str | None) -> Account:
    name = account_name_clean(name)
    locked = account_lock(account.pk)
    old = locked.name
    locked.name = name
    locked.save(update_fields=["name"])
    audit_log(account=locked, actor=actor, action="account.renamed", target=f"{old} → {name}", ip=ip)
    return locked


@transaction.atomic
def user_create_with_account(*, email: str, password: str, name: str | None = None, verified: bool = True):
    from allauth.account.models import EmailAddress

    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(f"A user with e-mail {email} already exists.")
    user = User.objects.create_user(email=email, password=password)
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=verified)
    account = account_create_for_user(user=user, name=name)
    return user, account


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def invitation_create(*, account: Account, email: str, role: str, invited_by: User, ip: str | None) -> str:
    """Creates an invitation and e-mails its link. Returns the raw token (for the e-mail only)."""
    email = email.strip().lower()
    if has_control_characters(email):
        raise DomainValidationError({"email": CONTROL_CHARACTERS_MESSAGE})
    if role not in Role.values or role == Role.OWNER:
        raise DomainValidationError({"role": "Choose admin, member or viewer."})
    if Membership.objects.filter(account=account, user__email__iexact=email).exists():
        raise DomainValidationError({"email": "This person is already a member of the account."})
    Invitation.objects.filter(account=account, email=email, accepted_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token = secrets.token_urlsafe(32)
    Invitation.objects.create(
        account=account,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=invited_by,
        expires_at=timezone.now() + INVITATION_TTL,
    )
    link = settings.SITE_URL.rstrip("/") + reverse("dashboard:invitation_accept", args=[token])
    account_name = single_line(account.name)  # a name stored before names were checked may hold line breaks
    transaction.on_commit(
        lambda: mail_send(
            subject=f"You are invited to {account_name}",
            message=(
                f"{invited_by.email} invited you to join {account_name} as {role}.\n\n"
                f"Accept the invitation: {link}\n\nThe link expires in 7 days."
            ),
            recipient_list=[email],
        )
    )
    audit_log(account=account, actor=invited_by, action="member.invited", target=f"{email} as {role}", ip=ip)
    return token


def invitation_by_token(token: str) -> Invitation:
    invitation = Invitation.objects.select_related("account").filter(token_hash=_token_hash(token)).first()
    if invitation is None or not invitation.is_pending:
        raise NotFound("This invitation is not valid any more.")
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User, ip: str | None) -> Membership:
    invitation = invitation_by_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_pending:
        raise NotFound("This invitation is not valid any more.")
    if invitation.email.lower() != user.email.lower():
        raise DomainValidationError(
            {"email": f"This invitation was sent to {invitation.email}; log in with that address."}
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(user=user, account=invitation.account, role=invitation.role)
    except IntegrityError:
        membership = Membership.objects.get(user=user, account=invitation.account)
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit_log(account=invitation.account, actor=user, action="member.joined", target=user.email, ip=ip)
    return membership


@transaction.atomic
def invitation_revoke(*, acting: Membership, invitation_id: int, ip: str | None) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update().filter(account=acting.account, pk=invitation_id).first()
    )
    if invitation is None:
        raise NotFound("No such invitation.")
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit_log(
            account=acting.account, actor=acting.user, action="member.invitation_revoked",
            target=invitation.email, ip=ip,
        )
    return invitation


def _owner_count(account: Account) -> int:
    return Membership.objects.filter(account=account, role=Role.OWNER).count()


KEY_ROLES = frozenset({Role.OWNER, Role.ADMIN})  # the roles that may hold API keys (permissions.CAPABILITY_MIN_ROLE)


member_key_right_ended = Signal()
"""Sent inside the transaction that ends a member's right to hold API keys (removal, a role
below admin, the user deleted), with `user`, `account` (None: every account), `by`, `reason`,
`ip` and `actor_label`. The apikeys app revokes the keys that member created and answers how
many; accounts sits below apikeys and so reaches it only through this signal."""


def member_keys_revoke(
    *, user: User, account: Account | None, by: User | None, reason: str, ip: str | None = None,
    actor_label: str = "",
) -> int:
    """Revokes the API keys `user` created in `account` (every account when None), for `reason`
    (the audit action that ended their right to them). Call it inside that change's transaction."""
    answers = member_key_right_ended.send(
        sender=Membership, user=user, account=account, by=by, reason=reason, ip=ip, actor_label=actor_label,
    )
    return sum(revoked for _receiver, revoked in answers)


def membership_ends_key_right(old: Membership | None, new: Membership | None) -> bool:
    """Whether going from `old` to `new` (None: deleted) takes API keys away from old's user."""
    if old is None or old.role not in KEY_ROLES:
        return False
    if new is None or (new.user_id, new.account_id) != (old.user_id, old.account_id):
        return True
    return new.role not in KEY_ROLES


@transaction.atomic
def membership_change_role(*, acting: Membership, membership_id: int, role: str, ip: str | None) -> Membership:
    target = Membership.objects.select_for_update().filter(account=acting.account, pk=membership_id).first()
    if target is None:
        raise NotFound("No such member.")
    if role not in Role.values:
        raise DomainValidationError({"role": "Unknown role."})
    touches_ownership = role == Role.OWNER or target.role == Role.OWNER
    if touches_ownership and acting.role != Role.OWNER:
        raise DomainValidationError({"role": "Only an owner can grant or remove ownership."})
    if target.role == Role.OWNER and role != Role.OWNER and _owner_count(acting.account) <= 1:
        raise DomainValidationError({"role": "An account needs at least one owner."})
    before = Membership(user_id=target.user_id, account_id=target.account_id, role=target.role)
    target.role = role
    target.save(update_fields=["role"])
    if membership_ends_key_right(before, target):
        member_keys_revoke(user=target.user, account=acting.account, by=acting.user, reason="member.role_changed", ip=ip)
    audit_log(
        account=acting.account, actor=acting.user, action="member.role_changed",
        target=f"{target.user.email}: {before.role} → {role}", ip=ip,
    )
    return target


@transaction.atomic
def membership_remove(*, acting: Membership, membership_id: int, ip: str | None) -> None:
    target = Membership.objects.select_for_update().filter(account=acting.account, pk=membership_id).first()
    if target is None:
        raise NotFound("No such member.")
    if target.role == Role.OWNER and acting.role != Role.OWNER:
        raise DomainValidationError({"member": "Only an owner can remove an owner."})
    if target.role == Role.OWNER and _owner_count(acting.account) <= 1:
        raise DomainValidationError({"member": "An account needs at least one owner."})
    email = target.user.email
    member_keys_revoke(user=target.user, account=acting.account, by=acting.user, reason="member.removed", ip=ip)
    target.delete()
    audit_log(account=acting.account, actor=acting.user, action="member.removed", target=email, ip=ip)


@transaction.atomic
def user_delete(*, user: User, operator: User | None, ip: str | None = None) -> None:
    """Deletes a user (an operator's act) with their memberships, revoking the API keys they
    created in every account first: no key outlives the person who made it."""
    label = f"operator {operator.email}" if operator else "operator"
    member_keys_revoke(user=user, account=None, by=operator, reason="user.deleted", ip=ip, actor_label=label)
    for membership in Membership.objects.filter(user=user).select_related("account"):
        audit_log(account=membership.account, actor=operator, actor_label=label, action="member.removed",
                  target=user.email, ip=ip, details={"reason": "user.deleted"})
    user.delete()


@transaction.atomic
def account_set_active(*, account: Account, active: bool, reason: str = "", operator: User | None = None) -> Account:
    account = account_lock(account.pk)
    account.is_active = active
    account.suspended_reason = "" if active else reason
    account.save(update_fields=["is_active", "suspended_reason"])
    audit_log(
        account=account, actor=operator, actor_label=f"operator {operator.email}" if operator else "operator",
        action="account.reactivated" if active else "account.suspended", target=account.public_id,
        details={"reason": reason} if reason else {},
    )
    return account


# --- the low-balance alert (sent by billing's ledger) ------------------------------------

LOW_BALANCE_THRESHOLD_HELP = 'Use an amount in USD such as "10.00", or null to turn the alert off.'


def low_balance_threshold_clean(value) -> Decimal | None:
    """A money string ("10.00"), a plain number, or None (off); at most two decimals."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DomainValidationError({"low_balance_threshold": [LOW_BALANCE_THRESHOLD_HELP]})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise DomainValidationError({"low_balance_threshold": [LOW_BALANCE_THRESHOLD_HELP]}) from None
    if not amount.is_finite() or amount < 0 or amount > MONEY_MAX or amount != amount.quantize(Decimal("0.01")):
        raise DomainValidationError({"low_balance_threshold": [
            f"Use an amount from 0.00 to {money_str(MONEY_MAX)} USD with at most two decimals, or null."
        ]})
    return to_money(amount)


def account_low_balance_threshold_set(
    *, account: Account, threshold, actor: User | None = None, actor_label: str = "", client_ip: str | None = None,
) -> Account:
    """Sets (or, with None, turns off) the balance under which `balance.low` is sent. The
    alert starts afresh: the next charge that leaves the balance under it sends one."""
    value = low_balance_threshold_clean(threshold)
    with transaction.atomic():
        locked = account_lock(account.pk)
        locked.low_balance_threshold = value
        locked.low_balance_alerted = False
        locked.save(update_fields=["low_balance_threshold", "low_balance_alerted"])
        audit_log(account=locked, actor=actor, actor_label=actor_label, action="account.low_balance_threshold",
                  target="off" if value is None else f"{money_str(value)} USD", ip=client_ip)
        account_auth_changed(locked.pk)
    return locked
