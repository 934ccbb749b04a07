"""The base of the project's models: Django's, loading rows for less.

Django builds a model instance from a database row through `Model.__init__`, which sets
every field through `setattr`, sends `pre_init` and `post_init`, and, for a row that reads
only some columns, first pads the row with a marker per column not read. For a page of 50
sub-users with their orders that is about a third of the request's own work. When a model
has nothing listening to those signals, no `__init__` of its own and plain field
attributes (as every model here), the same instance is its fields' values put straight into
its `__dict__`, which is what `__init__` ends up with; a column not read is left out and
loads on first access, as Django's deferred fields do.
"""

from django.db import models
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.query_utils import DeferredAttribute

_PLAIN: dict[type, bool] = {}
_RECEIVERS = [(0, 0)]  # the signals' receiver counts _PLAIN was worked out with


def _plain(cls) -> bool:
    """Whether an instance of `cls` is nothing but its fields' values (checked once per model,
    and again whenever receivers of `pre_init` or `post_init` come or go)."""
    receivers = (len(signals.pre_init.receivers), len(signals.post_init.receivers))
    if receivers != _RECEIVERS[0]:
        _PLAIN.clear()
        _RECEIVERS[0] = receivers
    plain = _PLAIN.get(cls)
    if plain is None:
        plain = _PLAIN[cls] = (
            cls.__init__ is models.Model.__init__
            and not signals.pre_init.has_listeners(cls)
            and not signals.post_init.has_listeners(cls)
            and all(isinstance(getattr(cls, f.attname, None), DeferredAttribute) for f in cls._meta.concrete_fields)
        )
    return plain


class Model(models.Model):
    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        if not _plain(cls):
            return super().from_db(db, field_names, values)
        new = cls.__new__(cls)
        state = new._state = ModelState()
        state.adding = False
        state.db = db
        new.__dict__.update(zip(field_names, values, strict=True))
        return new
