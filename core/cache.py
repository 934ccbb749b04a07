"""Django's Redis cache backend, holding one client per connection pool.

Django's `RedisCacheClient` wraps the pool in a new `redis.Redis` for every cache call, and
redis-py fills a table of some 160 response callbacks each time: on a request that reads
the cache (the catalogue's version, a pool's cached total) that cost about as much CPU as
the round trip itself. One client per pool does the same work: it takes a connection from
the pool for each command, so threads share it safely, and the pool starts afresh in a
forked child.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class HeldClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = HeldClientRedisCacheClient
