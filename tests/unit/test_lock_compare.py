"""lock_renders_as: kstool.lock compared with what render_lock would write, without building the whole text."""

from __future__ import annotations

import pytest

from kstool.engine.lockfile import LockedStore, lock_renders_as, render_lock


def stores(n: int) -> dict[str, LockedStore]:
    return {f"ks{i}": LockedStore(f"out/ks{i}.p12", "pkcs12", f"{i:064x}",
                                  ({"alias": "host", "kind": "key", "subject": f"CN=hôst-{i}", "serial": str(i)},),
                                  "settings", "inputs", "kstool.yaml", i % 2 == 0)
            for i in range(n)}


@pytest.mark.parametrize("n", [0, 1, 3, 50])
def test_the_rendered_lock_matches(n: int) -> None:
    assert lock_renders_as(stores(n), render_lock(stores(n)))


@pytest.mark.parametrize("n", [1, 3, 50])
def test_any_difference_is_seen(n: int) -> None:
    data = render_lock(stores(n))
    assert not lock_renders_as(stores(n), None)
    assert not lock_renders_as(stores(n), data[:-1])  # shorter
    assert not lock_renders_as(stores(n), data + b" ")  # longer
    assert not lock_renders_as(stores(n), data.replace(b"ks0.p12", b"ks0.P12"))
    assert not lock_renders_as(stores(n + 1), data)
    middle = len(data) // 2
    assert not lock_renders_as(stores(n), data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1:])
