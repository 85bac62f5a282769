from __future__ import annotations

from openband.store.callbacks import backoff, host_key


def test_host_key() -> None:
    assert host_key("http://Example.COM/cb?x=1") == "http://example.com:80"
    assert host_key("https://example.com/cb") == "https://example.com:443"
    assert host_key("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080"
    assert host_key("http://[::1]:9/a") == "http://::1:9"
    assert host_key("http://u:p@h:81/") == "http://h:81"


def test_backoff_grows_jittered_and_capped() -> None:
    for n, nominal in [(1, 1.0), (2, 2.0), (3, 4.0), (8, 128.0)]:
        values = [backoff(n, 1.0, 600.0) for _ in range(200)]
        assert all(nominal * 0.5 <= v <= nominal for v in values)
        assert len(set(values)) > 1  # jittered
    assert all(300.0 <= backoff(50, 1.0, 600.0) <= 600.0 for _ in range(50))
    assert backoff(10_000, 1.0, 600.0) <= 600.0  # no overflow
