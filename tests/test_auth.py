"""The token answer cache shared by the registry and the services that ask it."""

import time

import pytest

from distillery.core.auth import TokenCache, hash_token


def test_answers_are_cached_for_their_ttl():
    calls = []

    def compute(token):
        calls.append(token)
        return token.startswith("good")

    cache = TokenCache(positive_ttl_s=60, negative_ttl_s=0.05)
    assert cache.lookup("good-1", compute) is True and cache.lookup("good-1", compute) is True
    assert cache.lookup("bad-1", compute) is False and cache.lookup("bad-1", compute) is False
    assert calls == ["good-1", "bad-1"]
    time.sleep(0.1)  # a rejected token is asked again soon: it may have been issued meanwhile
    assert cache.lookup("bad-1", compute) is False and calls == ["good-1", "bad-1", "bad-1"]
    assert cache.lookup("good-1", compute) is True and len(calls) == 3


def test_the_cache_is_bounded_in_time_and_size(monkeypatch):
    monkeypatch.setenv("DISTILLERY_TOKEN_CACHE_TTL_S", "0.05")
    cache = TokenCache(max_entries=100)  # positive TTL from the environment: a revoked token's bound
    calls = []
    assert cache.lookup("good", lambda t: calls.append(t) or True) is True
    time.sleep(0.1)
    assert cache.lookup("good", lambda t: calls.append(t) or False) is False and len(calls) == 2
    for i in range(1000):  # a flood of made-up tokens
        cache.lookup(f"forged-{i}", lambda t: False)
    assert len(cache._entries) <= 100
    cache.forget(hash_token("forged-999"))
    assert hash_token("forged-999") not in cache._entries
    monkeypatch.setenv("DISTILLERY_TOKEN_CACHE_TTL_S", "forever")
    with pytest.raises(ValueError, match="DISTILLERY_TOKEN_CACHE_TTL_S"):
        TokenCache()
