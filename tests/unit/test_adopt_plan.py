"""The planner's words for a store kstool.lock has no record of (what ``kstool adopt`` produces), as a table over the
planner tables' helpers: its re-encode is stated as such, keys kept; a store the lock records keeps the old words."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_planner import NOOP_WEB, WEB, Case, key_entry, on_disk, rows

ADOPTED = ("re-encoded to kstool's canonical bytes, keys kept: kstool.lock has no record of this file (a store "
           "kstool did not write, e.g. one kstool adopt described)")
RECORDED = ("re-encoded: the file's bytes differ from what kstool writes for these entries (encoding, iteration "
            "count, timestamps or entry order)")
OTHER_BYTES = b"\xfe\xed\xfe\xedother bytes"


def _cases() -> Any:
    entry = key_entry("web")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry, data=OTHER_BYTES, unrecorded=True)}),
                       [("server", "update", (ADOPTED,)), NOOP_WEB], id="unrecorded-bytes-differ")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry, data=OTHER_BYTES, unrecorded=True,
                                                              mode=0o644)}),
                       [("server", "update", ("file mode 0644 lets group or others read it; apply rewrites it as 0600",
                                              ADOPTED)), NOOP_WEB], id="unrecorded-with-its-mode")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry, unrecorded=True)}),
                       [("server", "no-op", ()), NOOP_WEB], id="unrecorded-canonical-bytes")
    yield pytest.param(Case((WEB,), stores={"server": on_disk(WEB, entry, data=OTHER_BYTES)}),
                       [("server", "update", (RECORDED,)), NOOP_WEB], id="recorded-bytes-differ")


@pytest.mark.parametrize(("case", "expected"), list(_cases()))
def test_unrecorded_stores(case: Case, expected: list[Any]) -> None:
    assert rows(case.plan()) == expected
