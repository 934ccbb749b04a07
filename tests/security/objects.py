"""Real objects of tenant A, made through the public API or the services, by path parameter.

The isolation matrix asks this module for "a real id for path parameter X of route R".
Kinds are found from the parameter's name, or from the route for generic names (`id`,
`pk`). A kind whose feature has not landed yet raises `Unavailable` (the test skips,
naming the route); a parameter of no known kind raises `UnknownParameter` (the test
fails: a new kind of object needs a factory here before its endpoints ship).
"""

import uuid

from apikeys.services import apikey_create


class Unavailable(Exception):
    """The object's feature is not there (yet); the reason names what is missing."""


class UnknownParameter(Exception):
    pass


PARAM_KINDS = {
    "order_id": "order",
    "proxy_id": "proxy",
    "subuser_id": "proxy",
    "job_id": "job",
    "key_id": "apikey",
    "membership_id": "membership",
    "address_id": "deposit_address",
    "deposit_id": "deposit_address",
    "txn_id": "transaction",
    "transaction_id": "transaction",
    "invitation_id": "invitation",
    "ip_id": "authorized_ip",
    "link_id": "list_link",
    "endpoint_id": "webhook_endpoint",
    "delivery_id": "webhook_delivery",
}
# For generic parameter names, the first path segment of the route tells the kind.
SEGMENT_KINDS = {
    "orders": "order",
    "proxy": "proxy",
    "proxies": "proxy",
    "jobs": "job",
    "checker": "job",
    "keys": "apikey",
    "team": "membership",
    "deposits": "deposit_address",
    "transactions": "transaction",
}
# Parameters that are secrets in their own right (bearer tokens), not tenant object ids.
BEARER_PARAMS = {"token", "key", "uidb36"}
# Parameters naming shared, non-tenant data (GET /reference/{kind}, pools, formats), with a
# value that is valid for them.
NON_OBJECT_VALUES = {
    "kind": "countries", "pool": "public", "format": "txt", "fmt": "txt", "country": "US", "code": "US",
}
NON_OBJECT_PARAMS = set(NON_OBJECT_VALUES)


def kind_for(param: str, template: str) -> str:
    if param in PARAM_KINDS:
        return PARAM_KINDS[param]
    segments = [s for s in template.split("/") if s and not s.startswith("<")]
    for segment in reversed(segments[: _index_of_param(template, param)]):
        if segment in SEGMENT_KINDS:
            return SEGMENT_KINDS[segment]
    raise UnknownParameter(
        f"no object factory for path parameter <{param}> of /{template}: add its kind to "
        f"tests/security/objects.py so the isolation matrix covers it"
    )


def _index_of_param(template: str, param: str) -> int:
    parts = [s for s in template.split("/") if s]
    plain = 0
    for part in parts:
        if param in part and part.startswith("<"):
            return plain
        if not part.startswith("<"):
            plain += 1
    return plain


def _fail(what: str, response) -> Unavailable:
    body = getattr(response, "json_body", None) or response.content[:300]
    return Unavailable(f"cannot create {what} yet: {response.status_code} {body}")


class TenantObjects:
    """Creates (once) and remembers objects of one tenant."""

    def __init__(self, tenant, capture_on_commit=None):
        self.t = tenant
        self.capture = capture_on_commit
        self.cache: dict[str, str] = {}

    def id_for(self, param: str, template: str) -> str:
        if param in NON_OBJECT_VALUES:
            return NON_OBJECT_VALUES[param]
        kind = kind_for(param, template)
        if kind not in self.cache:
            self.cache[kind] = getattr(self, f"make_{kind}")()
        return self.cache[kind]

    # --- kinds ---------------------------------------------------------------------------
    def _run_on_commit(self, fn):
        """Runs fn and then the on_commit callbacks it scheduled (provisioning, etc.)."""
        if self.capture is None:
            return fn()
        with self.capture(execute=True):
            return fn()

    def make_apikey(self) -> str:
        key, _ = apikey_create(
            account=self.t.account, name="isolation probe", scopes=["balance:read"],
            expiration="never", created_by=self.t.user,
        )
        return key.public_id

    def make_membership(self) -> str:
        return str(self.t.membership.pk)

    def make_transaction(self) -> str:
        from billing.models import LedgerEntry

        return LedgerEntry.objects.filter(account=self.t.account).first().public_id

    def make_deposit_address(self) -> str:
        response = self.t.api.post("deposits/addresses", {"currency": "BTC"})
        if response.status_code != 201:
            raise _fail("a deposit address (POST /deposits/addresses)", response)
        return response.json_body["data"]["id"]

    def make_invitation(self) -> str:
        from accounts.models import Invitation
        from accounts.services import invitation_create

        invitation_create(account=self.t.account, email="invitee@tenant-a.example", role="member",
                          invited_by=self.t.user, ip=None)
        return str(Invitation.objects.filter(account=self.t.account).latest("pk").pk)

    def make_webhook_endpoint(self) -> str:
        """At a loopback URL, admitted here only: deliveries to it are refused by the address
        guard, so nothing a probe sets off leaves the machine."""
        from django.test import override_settings

        from events.services import endpoint_create

        with override_settings(WEBHOOKS_ALLOW_PRIVATE=True, WEBHOOKS_ALLOW_HTTP=True):
            endpoint = endpoint_create(account=self.t.account, url="http://127.0.0.1:9/isolation-probe",
                                       events=["order.activated"])
        return endpoint.public_id

    def make_webhook_delivery(self) -> str:
        from events.models import Dispatch
        from events.services import dispatch_deliver, endpoint_ping

        event = endpoint_ping(account=self.t.account, public_id=self.id_for("endpoint_id", ""))
        return dispatch_deliver(dispatch_id=Dispatch.objects.get(event=event).pk).public_id

    def _order(self, body: dict) -> dict:
        response = self._run_on_commit(lambda: self.t.api.post("orders", body))
        if response.status_code != 201:
            raise _fail(f"an order {body} (POST /orders)", response)
        return response.json_body["data"]

    def make_order(self) -> str:
        return self.make_residential_order()

    def make_residential_order(self) -> str:
        if "residential_order" not in self.cache:
            order = self._order({"type": "residential", "quantity": "1"})
            self.cache["residential_order"] = order["id"]
        return self.cache["residential_order"]

    def make_proxy(self) -> str:
        order_id = self.make_residential_order()
        body = {"order_id": order_id, "name": "isolation-probe", "protocol": "http"}
        response = self._run_on_commit(lambda: self.t.api.post("proxy", body))
        if response.status_code != 201:
            raise _fail("a sub-user proxy (POST /proxy)", response)
        return response.json_body["data"]["id"]

    def make_authorized_ip(self) -> str:
        response = self.t.api.post("account/authorized-ips", {"ip": "8.8.8.8"})
        if response.status_code != 201:
            raise _fail("an authorized IP (POST /account/authorized-ips)", response)
        return response.json_body["data"]["id"]

    def make_list_link(self) -> str:
        order_id = self.id_for("order_id", "api/v1/orders/<str:order_id>")
        response = self.t.api.post(f"orders/{order_id}/list-links", {})
        if response.status_code != 201:
            raise _fail("a list link (POST /orders/{id}/list-links)", response)
        return response.json_body["data"]["id"]

    def make_job(self) -> str:
        # Not run: on_commit work is not executed here, so the job stays queued (no traffic).
        response = self.t.api.post("check", {"proxies_text": "127.0.0.1:9\n127.0.0.1:10"})
        if response.status_code != 202:
            raise _fail("a check job (POST /check)", response)
        return response.json_body["data"]["job_id"]


def random_id_for(param: str) -> str:
    """A well-formed id that exists nowhere (for probes that need no real object)."""
    if param in NON_OBJECT_VALUES:
        return NON_OBJECT_VALUES[param]
    if "job" in param:
        return str(uuid.uuid4())
    if param in {"membership_id", "invitation_id"}:
        return "999999"
    return "zz_" + uuid.uuid4().hex


__all__ = ["TenantObjects", "Unavailable", "UnknownParameter", "kind_for", "random_id_for"]


def snapshot(object_id: str) -> dict | None:
    """Every field of the customer object with this public id (any app), to compare later."""
    from django.apps import apps
    from django.db import transaction
    from django.forms.models import model_to_dict

    for model in apps.get_models():
        names = {f.name for f in model._meta.get_fields()}
        if "account" in names:
            fields = ("public_id", "job_id", "pk")
        elif "order" in names and "public_id" in names:  # a tenant's object through its order (list links)
            fields = ("public_id",)
        else:
            continue
        for field in fields:
            if field != "pk" and field not in names:
                continue
            try:
                with transaction.atomic():
                    obj = model.objects.filter(**{field: object_id}).first()
            except Exception:  # noqa: BLE001 - an id of another shape for this model
                continue
            if obj is not None:
                return {"model": model._meta.label, **model_to_dict(obj)}
    return None
