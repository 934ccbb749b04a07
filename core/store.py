"""The shared store: the cache that rate-limit counters and the API's key-snapshot versions
live in (Redis in production, `RATELIMIT_USE_CACHE` names it).

Every API request makes one call to it, so each process looks the cache up once and holds
one connection of its pool (again after a fork or a settings change): looking the cache up,
taking a connection from the pool and checking it for stray data each time costs about as
much as the call itself. redis-py locks the single connection, so threads share it safely.
Off Redis (the embedded default's in-process cache) there is no client, only the backend.
"""

import os
import threading
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.dispatch import receiver


@dataclass(frozen=True)
class Store:
    backend: object  # the cache backend the shared data lives in
    client: object | None  # a redis.Redis on one held connection, or None off Redis
    _scripts: dict = field(default_factory=dict, compare=False, repr=False)

    def script(self, source: str):
        """The Lua `source` registered on this store's client (a redis-py Script), once per store."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client.register_script(source)
        return script


_lock = threading.Lock()
_store: Store | None = None


def current_store() -> Store:
    """The shared store, looked up once per process (again after a fork or a settings change)."""
    store = _store
    if store is None:
        with _lock:
            store = _store or _open_store()
    return store


def _forget_store_in_child() -> None:
    global _store
    _store = None  # the parent's connection is not the child's to use


os.register_at_fork(after_in_child=_forget_store_in_child)


def _open_store() -> Store:
    """One connection of the cache's pool, held by this process for every call."""
    global _store
    backend = caches[settings.RATELIMIT_USE_CACHE]
    if isinstance(backend, RedisCache):
        pool = backend._cache.get_client(write=True).connection_pool
        _store = Store(backend, redis.Redis(connection_pool=pool, single_connection_client=True))
    else:
        _store = Store(backend, None)
    return _store


@receiver(setting_changed)
def _forget_store(setting, **kwargs) -> None:
    global _store
    if setting in {"CACHES", "RATELIMIT_USE_CACHE"} and _store is not None:
        if _store.client is not None:
            _store.client.close()
        _store = None


def redis_client():
    """The shared store's Redis client, or None when the cache is not Redis."""
    return current_store().client


def store_key(name: str) -> str:
    """`name` as stored in the shared cache (its key prefix and version applied)."""
    return current_store().backend.make_key(name)
