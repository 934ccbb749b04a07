"""core.cache.RedisCache: Django's Redis cache, one client per connection pool."""

import pytest
from django.core.cache import cache


@pytest.mark.redis
def test_the_redis_cache_reuses_one_client_and_still_caches(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    client = cache._cache.get_client()
    assert cache._cache.get_client(write=True) is client
    cache.set("held-client", {"n": 1}, timeout=30)
    assert cache.get("held-client") == {"n": 1}
    cache.add("held-client-count", 0)
    assert cache.incr("held-client-count") == 1
    cache.delete_many(["held-client", "held-client-count"])
    assert cache.get("held-client") is None
