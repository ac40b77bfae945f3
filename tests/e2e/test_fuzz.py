"""Hostile input never crashes kstool: mutated keystores, passwords and specs give kstool's own errors.

Keystore readers may only raise ``FormatError`` (``WrongPasswordError`` is one), quickly; ``kstool validate``
on a mutated spec exits 0 or 1, never 3 (a bug), and never prints a traceback. Every hypothesis test is
derandomized and bounded, so CI runs the same inputs every time.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kstool.errors import FormatError, WrongPasswordError
from kstool.formats import der, protection
from kstool.formats.codec import MAX_ITERATIONS, decode
from tests.support.clirun import ROOT, run
from tests.support.fuzz_readers import (
    INTERESTING,
    ITERATIONS,
    OP_KINDS,
    PASSWORD,
    TARGETS,
    Op,
    Target,
    apply_ops,
    auth_safe,
    data_info,
    entries,
    int_tlv,
    judge,
    mutable_part,
    reseal,
    reseal_jks,
    reseal_pkcs12,
    store,
    store_type,
)

# cryptography warns (does not fail) on certificates with a negative serial; mutations make plenty of those
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

OPS = st.lists(st.builds(
    Op,
    kind=st.sampled_from(OP_KINDS),
    pos=st.integers(0, 4096),
    size=st.integers(0, 64),
    data=st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=8)),
), min_size=1, max_size=4)
TARGET_PARAMS = [pytest.param(t, id=t) for t in TARGETS]


def _no_crash(target: Target, data: bytes, password: str = PASSWORD) -> None:
    crash = judge(target, data, password)
    assert crash is None, crash.report()


# -- 1. keystore readers ----------------------------------------------------------------------------------

def test_unmutated_and_resealed_stores_decode() -> None:
    """The fuzz bases are valid, and resealing alone changes nothing: mutations are what gets refused."""
    for target in TARGETS:
        expected = decode(store(target), store_type(target), PASSWORD)
        assert len(expected) == len(entries())
        assert decode(reseal(target, mutable_part(target)), store_type(target), PASSWORD) == expected


@pytest.mark.parametrize("target", TARGET_PARAMS)
@settings(max_examples=120, deadline=None, derandomize=True)
@given(ops=OPS)
def test_mutated_store_raises_only_format_errors(target: Target, ops: list[Op]) -> None:
    """Raw mutations: mostly stopped by the integrity check, or by the structure parsers before it."""
    _no_crash(target, apply_ops(store(target), ops))


@pytest.mark.parametrize("target", TARGET_PARAMS)
@settings(max_examples=120, deadline=None, derandomize=True)
@given(ops=OPS)
def test_resealed_mutation_raises_only_format_errors(target: Target, ops: list[Op]) -> None:
    """Mutations behind a recomputed store hash / MAC reach the entry parsers and the key decryption."""
    _no_crash(target, reseal(target, apply_ops(mutable_part(target), ops)))


def _password_from_ops(ops: list[Op]) -> str:
    return apply_ops(PASSWORD.encode("ascii"), ops).decode("latin-1")


PASSWORDS = st.one_of(st.builds(_password_from_ops, OPS), st.text(max_size=24),
                      st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24))


@pytest.mark.parametrize("target", TARGET_PARAMS)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(password=PASSWORDS)
def test_wrong_password_is_wrong_password_error(target: Target, password: str) -> None:
    if password == PASSWORD:
        return
    # Java refuses non-ASCII PKCS12 passwords outright; that is a FormatError that is not about the password
    expected = FormatError if store_type(target) == "pkcs12" and not password.isascii() else WrongPasswordError
    started = time.perf_counter()
    with pytest.raises(expected):
        decode(store(target), store_type(target), password)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("target", TARGET_PARAMS)
@settings(max_examples=60, deadline=None, derandomize=True)
@given(keep=st.sampled_from([0, 1, 4, 8, 12]), noise=st.binary(max_size=600))
def test_random_bytes_raise_only_format_errors(target: Target, keep: int, noise: bytes) -> None:
    """Noise, alone or behind the store's own magic / header (so it reaches past the first check)."""
    _no_crash(target, store(target)[:keep] + noise)


# -- iteration counts: refused before any key derivation --------------------------------------------------

def _rewrite(data: bytes, replace: Callable[[int], int | None]) -> bytes:
    """Re-encode a DER tree, replacing INTEGERs (``replace(value)`` returns the new value or None).

    Constructed nodes are walked, and so is an OCTET STRING whose content is itself DER (the PKCS12
    authenticated safe and its Data contents); encrypted content never parses and stays as it is.
    """
    out = b""
    for node in der.decode_all(data):
        if node.tag == der.INTEGER:
            new = replace(node.as_int())
            out += node.raw if new is None else int_tlv(new)
        elif node.tag & 0x20 or (node.tag == der.OCTET_STRING and _is_der(node.value)):
            out += der.tlv(node.tag, _rewrite(node.value, replace))
        else:
            out += node.raw
    return out


def _is_der(data: bytes) -> bool:
    try:
        return data[:1] == b"\x30" and b"".join(n.raw for n in der.decode_all(data)) == data
    except FormatError:
        return False


def _nth(n: int, new: int) -> Callable[[int], int | None]:
    """Replace the ``n``-th INTEGER equal to ITERATIONS (0: the key bag's, 1: the certificate safe's)."""
    seen = [-1]

    def replace(value: int) -> int | None:
        if value != ITERATIONS:
            return None
        seen[0] += 1
        return new if seen[0] == n else None

    return replace


def _jceks_with_iterations(count: int) -> bytes:
    """The JCEKS fuzz store with its key's PBE iteration count set to ``count``, store hash recomputed."""
    data = store("jceks")
    key = entries()[0]
    at = 12 + 4 + 2 + len(key.alias) + 8  # header, tag, alias (writeUTF), date: then the key's length
    (length,) = struct.unpack(">i", data[at:at + 4])
    epki = _rewrite(data[at + 4:at + 4 + length], lambda v: count if v == ITERATIONS else None)
    return reseal_jks(data[:at] + struct.pack(">i", len(epki)) + epki + data[at + 4 + length:], PASSWORD)


def _pkcs12_with_iterations(target: Target, where: str, count: int) -> bytes:
    if where == "mac":  # nobody can compute this MAC: it must be refused, not computed
        return reseal_pkcs12(auth_safe(target), PASSWORD, mac_iterations=count, mac_digest=bytes(32))
    return reseal_pkcs12(_rewrite(auth_safe(target), _nth(0 if where == "key" else 1, count)), PASSWORD)


ITERATION_CASES = [pytest.param("jceks", "key", id="jceks-key")] + [
    pytest.param(t, w, id=f"{t}-{w}") for t in ("pkcs12-modern", "pkcs12-legacy") for w in ("key", "certs", "mac")]


@pytest.mark.parametrize(("target", "where"), ITERATION_CASES)
def test_rewriting_the_iteration_count_to_itself_keeps_the_store_valid(target: Target, where: str) -> None:
    """The rewriter hits the field it claims to: with the same count the store still opens."""
    if target == "jceks":
        data = _jceks_with_iterations(ITERATIONS)
    elif where == "mac":
        data = reseal_pkcs12(auth_safe(target), PASSWORD, mac_iterations=ITERATIONS)
    else:
        data = _pkcs12_with_iterations(target, where, ITERATIONS)
    assert decode(data, store_type(target), PASSWORD) == decode(store(target), store_type(target), PASSWORD)
    if target != "jceks" and where != "mac":  # and a different in-range count really changes what is decrypted
        with pytest.raises(WrongPasswordError):
            decode(_pkcs12_with_iterations(target, where, ITERATIONS + 1), "pkcs12", PASSWORD)


def _forbid_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any password-based derivation is a test failure: a bad count must be refused before one runs."""
    def forbidden(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("a key derivation ran before the iteration count was refused")

    for name in ("pkcs12_kdf", "pbkdf2", "pbe_md5_3des"):
        monkeypatch.setattr(protection, name, forbidden)


@pytest.mark.parametrize(("target", "where"), ITERATION_CASES)
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.one_of(st.integers(MAX_ITERATIONS + 1, 2**80), st.integers(-(2**40), 0),
                       st.sampled_from([0, -1, MAX_ITERATIONS + 1, 2**31, 2**32 + 1, 2**63])))
def test_absurd_iteration_counts_are_refused_before_any_kdf(target: Target, where: str, count: int,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    data = _jceks_with_iterations(count) if target == "jceks" else _pkcs12_with_iterations(target, where, count)
    started = time.perf_counter()
    with monkeypatch.context() as patched, pytest.raises(FormatError, match="iteration count"):
        _forbid_kdf(patched)
        decode(data, store_type(target), PASSWORD)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(("old", "new"), [
    pytest.param(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x12", id="x509-version-18"),  # InvalidVersion
    pytest.param(b"\x06\x03\x55\x04\x03\x0c", b"\x06\x03\x55\x04\x03\xf9", id="name-string-tag-0xf9"),  # KeyError
])
def test_malformed_certificate_in_a_valid_store_is_a_format_error(old: bytes, new: bytes) -> None:
    """Found by the fuzzer: cryptography raises InvalidVersion (no ValueError) on load and KeyError on
    ``cert.subject`` for an unknown string tag; both escaped decode_pkcs12 before."""
    safe = auth_safe("pkcs12-plain")
    assert old in safe
    with pytest.raises(FormatError, match="malformed certificate"):
        decode(reseal_pkcs12(safe.replace(old, new, 1), PASSWORD), "pkcs12", PASSWORD)


def test_mac_less_store_with_mutated_certificates_is_a_format_error() -> None:
    """A PKCS12 store without a MAC (Java loads those) exposes its clear bags to anyone: still no crash."""
    safe = auth_safe("pkcs12-plain")
    for i in range(0, len(safe), 7):
        mutated = safe[:i] + bytes([safe[i] ^ 0x5A]) + safe[i + 1:]
        pfx = der.seq(der.integer(3), data_info(mutated))
        _no_crash("pkcs12-plain", pfx)


# -- 2. the CI fuzz harness -------------------------------------------------------------------------------

@pytest.mark.slow
def test_fuzz_harness_runs_clean_for_five_seconds() -> None:
    result = subprocess.run(  # our own script, fixed arguments
        [sys.executable, str(ROOT / "tests" / "support" / "fuzz_readers.py"), "--seconds", "5", "--seed", "7"],
        capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "0 crash(es)" in result.stdout
    iterations = int(result.stdout.split(" iterations")[0].rsplit(" ", 1)[-1])
    assert iterations > 1000  # the loop really ran


# -- 3. spec files ----------------------------------------------------------------------------------------

EXAMPLE = (ROOT / "examples" / "wso2" / "kstool.yaml").read_text(encoding="utf-8")
YAML_CHARS = ":-{}[]#&*!|>'\"\n \t,?%@`\\=/.0123456789aZ\x00\u00e9\u2028\ufeff\U0001f600"
SNIPPETS = [
    "  - name: x", "    entries: [", "keystores: {}", "&anchor value", "*alias", "<<: *base",
    "!!python/object/apply:os.system ['true']", "? [complex, key]", "---", "...", "%YAML 1.1", "%TAG ! tag:x,2000:",
    "key: 0600", "key: NO", "key: 1:20", "key: 2024-01-01", "key: 0x1F", "key: 1e3", "key: ~", "key: .inf",
    "\tkey: tab", "password: hunter2", "version: 2", "version: '1'", "      - alias: ''", "          key: {}",
    "          key: {algorithm: EC, size: 999}", "          dname: ''", "          dname: 'CN=\\'",
    "          san: ['dns:']", "        trusted: {entry: nope/nope}", "        trusted: {entry: wso2carbon}",
    "    path: /etc/passwd", "    path: ../../x.jks", "    path: a\\b.jks", "    type: pkcs12",
    "    pkcs12_profile: legacy", "    iterations: 999999999", "    key_password: {env: X}",
    "[" * 200 + "]" * 200, "{a: " * 100 + "b" + "}" * 100, "- " * 300 + "x", "\u00ff\u0000\u001b[31m",
]
YAML_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def _edit(text: str, edit: tuple[str, int, str]) -> str:
    kind, pos, arg = edit
    lines = text.split("\n")
    line = pos % max(1, len(lines))
    if kind == "replace-char" and text:
        i = pos % len(text)
        return text[:i] + arg + text[i + 1:]
    if kind == "insert-char":
        i = pos % (len(text) + 1)
        return text[:i] + arg + text[i:]
    if kind == "delete-char" and text:
        i = pos % len(text)
        return text[:i] + text[i + 1:]
    if kind == "delete-line":
        return "\n".join(lines[:line] + lines[line + 1:])
    if kind == "duplicate-line":
        return "\n".join(lines[:line + 1] + lines[line:])
    if kind == "insert-line":
        return "\n".join([*lines[:line], arg, *lines[line:]])
    if kind == "replace-value" and ":" in lines[line]:  # keep the key, change what it holds
        lines[line] = lines[line].split(":", 1)[0] + ": " + arg
        return "\n".join(lines)
    return text


def _flow(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


EDIT = st.one_of(
    st.tuples(st.sampled_from(["replace-char", "insert-char"]), st.integers(0, 10_000), st.sampled_from(YAML_CHARS)),
    st.tuples(st.sampled_from(["delete-char", "delete-line", "duplicate-line"]), st.integers(0, 10_000), st.just("")),
    st.tuples(st.just("insert-line"), st.integers(0, 10_000), st.sampled_from(SNIPPETS)),
    st.tuples(st.just("replace-value"), st.integers(0, 10_000), st.one_of(st.sampled_from(SNIPPETS),
                                                                          YAML_VALUES.map(_flow))),
)


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # validate needs no inputs, so one file overwritten per example is enough
    return tmp_path_factory.mktemp("spec-fuzz") / "kstool.yaml"


def _validate_exits_cleanly(capsys: pytest.CaptureFixture[str], path: Path) -> int:
    result = run(capsys, "validate", path)
    assert result.code in (0, 1), f"exit {result.code}: {result.err}"
    assert "Traceback" not in result.err + result.out
    assert "unexpected error" not in result.err
    return result.code


def test_unmutated_example_is_valid(capsys: pytest.CaptureFixture[str], spec_file: Path) -> None:
    spec_file.write_text(EXAMPLE, encoding="utf-8")
    assert _validate_exits_cleanly(capsys, spec_file) == 0


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=1, max_size=5))
def test_mutated_spec_never_crashes_validate(capsys: pytest.CaptureFixture[str], spec_file: Path,
                                             edits: list[tuple[str, int, str]]) -> None:
    text = EXAMPLE
    for edit in edits:
        text = _edit(text, edit)
    spec_file.write_text(text, encoding="utf-8", errors="surrogatepass")
    _validate_exits_cleanly(capsys, spec_file)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8")),
                      YAML_VALUES.map(lambda v: yaml.safe_dump(v).encode("utf-8"))))
def test_arbitrary_bytes_never_crash_validate(capsys: pytest.CaptureFixture[str], spec_file: Path,
                                              data: bytes) -> None:
    spec_file.write_bytes(data)
    _validate_exits_cleanly(capsys, spec_file)


@pytest.mark.parametrize("text", [
    pytest.param("[" * 5000 + "]" * 5000, id="deep-flow-sequence"),
    pytest.param("{a: " * 3000 + "b" + "}" * 3000, id="deep-flow-mapping"),
    pytest.param("- " * 5000 + "x", id="deep-block-sequence"),
    pytest.param("".join(" " * i + "a:\n" for i in range(1000)) + " " * 1000 + "b", id="deep-block-mapping"),
])
def test_deeply_nested_yaml_is_an_error_not_a_crash(capsys: pytest.CaptureFixture[str], spec_file: Path,
                                                    text: str) -> None:
    spec_file.write_text(text, encoding="utf-8")
    assert _validate_exits_cleanly(capsys, spec_file) == 1
