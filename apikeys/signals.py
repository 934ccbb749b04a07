"""Receivers that invalidate the API's key snapshots (api.snapshots) when a row a snapshot
holds changes: a key, its account, a membership, a user's e-mail; and the one that revokes a
member's keys when accounts says their right to them ended."""

from django.db.models.signals import post_delete, post_save

from accounts.models import Account, Membership, User
from accounts.services import member_key_right_ended
from api.snapshots import account_auth_changed
from apikeys.models import ApiKey
from apikeys.services import apikeys_revoke_created_by


def _on_key_or_account_write(sender, instance, **kwargs) -> None:
    account_auth_changed(instance.pk if sender is Account else instance.account_id)


def _on_user_write(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and "email" not in update_fields:
        return  # e.g. the last_login written at every sign-in
    for account_id in Membership.objects.filter(user_id=instance.pk).values_list("account_id", flat=True):
        account_auth_changed(account_id)


def _on_member_key_right_ended(sender, *, user, account, by, reason, ip, actor_label, **kwargs) -> int:
    return apikeys_revoke_created_by(
        user=user, account=account, revoked_by=by, reason=reason, ip=ip, actor_label=actor_label,
    )


def connect_signals() -> None:
    """Receivers per model whose rows a snapshot holds (a key, its account, the owner's
    membership and e-mail)."""
    for model in (ApiKey, Account, Membership):
        post_save.connect(_on_key_or_account_write, sender=model, dispatch_uid=f"snapshot-save-{model.__name__}")
        post_delete.connect(_on_key_or_account_write, sender=model,
                            dispatch_uid=f"snapshot-delete-{model.__name__}")
    post_save.connect(_on_user_write, sender=User, dispatch_uid="snapshot-save-User")
    member_key_right_ended.connect(_on_member_key_right_ended, dispatch_uid="revoke-member-keys")
