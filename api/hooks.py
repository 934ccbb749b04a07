"""What the API platform needs of the apps, reached without importing them.

The project's settings name each provider by its dotted path, as DRF's settings name its
classes, so `portal/settings.py` is the one place where an app plugs into the platform:

- `API_KEY_SOURCE`: a module with the `KeySource` functions below, giving the keys an app
  issues (`apikeys.keysource`).
- `API_RATE_LIMITS`: a callable `(*, tier) -> {category: requests per window}`
  (`accounts.selectors.plan_rate_limits`).

Each is imported once per process (again after a settings change, for tests).
"""

from importlib import import_module
from typing import Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


class KeySource(Protocol):
    """The issued keys, as authentication sees them.

    A key instance has `pk`, `key_hash`, `is_active`, `ip_allowlist`, `scopes`,
    `display_prefix`, `last_used_at`, `account_id` and `account` (with `tier` and
    `is_active`). A *row* is the key's and its account's stored values, which a process
    may keep (api.snapshots) and build fresh instances from without a query.
    """

    def digest(self, raw_key: str) -> str:
        """The stored hash of a presented key."""

    def is_well_formed(self, raw_key: str) -> bool:
        """Format and checksum of a presented key, without a query."""

    def row(self, key_hash: str):
        """The row of the key with this hash (any state), or None: one query."""

    def build(self, row):
        """A fresh key instance, its account loaded, from a row."""

    def touch(self, api_key) -> bool:
        """Records the key's use (at most once a minute); True when it did."""

    def note_touch(self, row, api_key) -> None:
        """Copies the key's new `last_used_at` into a kept row."""


_providers: dict[str, object] = {}


def _provider(setting: str, load) -> object:
    provider = _providers.get(setting)
    if provider is None:
        provider = _providers[setting] = load(getattr(settings, setting))
    return provider


def key_source() -> KeySource:
    return _provider("API_KEY_SOURCE", import_module)


def rate_limits():
    """The callable `(*, tier) -> {category: limit}` that `API_RATE_LIMITS` names."""
    return _provider("API_RATE_LIMITS", import_string)


@receiver(setting_changed)
def _forget_provider(setting, **kwargs) -> None:
    _providers.pop(setting, None)
