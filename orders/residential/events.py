"""Sub-user proxy events for customers' webhooks: the proxy as `GET /proxy/{id}` shows it."""

from events.services import event_emit

from .models import SubUserProxy


def subusers_disabled_emit(*, public_ids: list[str]) -> None:
    """`proxy.disabled` for each of these sub-users, in the caller's transaction."""
    from .api import SubUserOut  # the API module imports the services, which import this one

    if not public_ids:
        return
    for proxy in SubUserProxy.objects.filter(public_id__in=public_ids).select_related("order"):
        event_emit(account=proxy.account_id, type="proxy.disabled", data=dict(SubUserOut(proxy).data))
