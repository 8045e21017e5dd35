"""The token answer cache shared by the registry and the services that ask it."""

import time

from distillery.core.auth import TokenCache


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
