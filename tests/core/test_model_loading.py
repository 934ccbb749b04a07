"""core.models.Model: instances loaded from rows are the ones Django's own `__init__` builds."""

from decimal import Decimal

import pytest
from django.db.models import Model as DjangoModel
from django.db.models import signals

from checker.models import CheckJob
from orders.models import Order
from orders.residential.models import SubUserProxy
from tests.orders.residential.subuser_fixtures import residential_order


def _django_way(instance):
    """The instance as Django's Model.from_db would have built it from the same row."""
    cls = type(instance)
    loaded = [f.attname for f in cls._meta.concrete_fields if f.attname in instance.__dict__]
    return DjangoModel.from_db.__func__(cls, instance._state.db, loaded, [instance.__dict__[n] for n in loaded])


def _fields(instance) -> dict:
    return {k: v for k, v in vars(instance).items() if k != "_state"}


@pytest.mark.django_db
def test_rows_load_as_djangos_instances(account):
    order = residential_order(account, gb="10")
    job = CheckJob.objects.create(account=account, total=2, done=1, live=1)
    for instance in (Order.objects.get(pk=order.pk), CheckJob.objects.get(pk=job.pk)):
        twin = _django_way(instance)
        assert _fields(instance) == _fields(twin)
        assert (instance._state.adding, instance._state.db) == (False, "default") == (twin._state.adding, twin._state.db)
        assert instance == twin and instance.pk == twin.pk
    loaded = Order.objects.get(pk=order.pk)
    loaded.status = loaded.status  # saving a loaded instance updates its row, never inserts
    loaded.save()
    assert Order.objects.filter(pk=order.pk).count() == 1


@pytest.mark.django_db
def test_a_column_not_read_loads_on_first_access(account):
    order = residential_order(account, gb="10")
    SubUserProxy.objects.create(account=account, order=order, name="Office", username="u1", password="p")
    partial = Order.objects.only("id").get(pk=order.pk)
    assert "quantity" not in partial.__dict__ and partial.get_deferred_fields()
    assert partial.quantity == order.quantity and isinstance(partial.quantity, Decimal)
    related = SubUserProxy.objects.select_related("order").only("id", "order__public_id")
    assert list(related) == list(SubUserProxy.objects.all())


@pytest.mark.django_db
def test_a_model_with_an_init_receiver_is_built_by_djangos_init(account):
    job = CheckJob.objects.create(account=account, total=1)
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    signals.post_init.connect(receiver, sender=CheckJob)
    try:
        assert CheckJob.objects.get(pk=job.pk).pk == job.pk
    finally:
        signals.post_init.disconnect(receiver, sender=CheckJob)
    assert seen == [job.pk]
    CheckJob.objects.get(pk=job.pk)
    assert seen == [job.pk]  # disconnected: not called again
