"""``kstool adopt``: the spec it writes (YAML with comments saying what was adopted and how), and its report.

Every scalar is written double-quoted with YAML escapes, ASCII only; comments are ASCII with control and
non-ASCII characters escaped: a certificate's subject cannot add a line, a key or a bidi trick to the spec.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from kstool.engine.adopt import AdoptedEntry, AdoptedStore, Adoption, PasswordGiven, Written

_WIDTH = 116


def _q(value: str) -> str:
    """A double-quoted YAML scalar, ASCII only (YAML escapes for the rest)."""
    text = yaml.safe_dump(value, default_style='"', allow_unicode=False, width=10**9)
    return text.strip().removesuffix("...").strip()


def _plain(text: str) -> str:
    """Comment text: printable ASCII, anything else escaped as \\xNN or \\uNNNN."""
    out = []
    for ch in text:
        if " " <= ch <= "~":
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return "".join(out)


def _comment(text: str, indent: str) -> list[str]:
    import textwrap  # noqa: PLC0415

    return [f"{indent}# {line}" for line in textwrap.wrap(_plain(text), _WIDTH - len(indent) - 2,
                                                        break_on_hyphens=False)] or [f"{indent}#"]


def _ref(given: PasswordGiven) -> str:
    return f"{{env: {_q(given.value)}}}" if given.kind == "env" else f"{{file: {_q(given.value)}}}"


def render_spec(adoption: Adoption) -> str:
    """The spec's YAML text."""
    count = len(adoption.stores)
    lines = [
        *_comment(f"Written by `kstool adopt` from {count} existing keystore{'s' if count != 1 else ''}. It "
                  "describes the stores as they are: `kstool plan` on it changes no key. The first apply may "
                  "re-encode each store to kstool's canonical bytes (the same keys and certificates; apply keeps "
                  "a backup of the old file), after which plans are empty.", ""),
        *_comment("Passwords are references (environment variables or files), never values. Key entries keep "
                  "their keys: self-signed ones as generate: entries (renewed by kstool for the same key), "
                  "CA-signed ones with their certificate and chain as the CA's reply:; trusted certificates were "
                  "written to PEM files.", ""),
        "version: 1",
        "keystores:",
    ]
    for store in adoption.stores:
        lines += _store(store)
    return "\n".join(lines) + "\n"


def _store(store: AdoptedStore) -> list[str]:
    lines = [""]
    for note in store.notes:
        lines += _comment(note, "  ")
    lines += [
        f"  - name: {_q(store.name)}",
        f"    path: {_q(store.path)}",
        f"    type: {store.type}",
        *([f'    mode: "{store.mode:04o}"'] if store.mode is not None else []),
        f"    password: {_ref(store.password)}",
    ]
    if store.key_password is not None:
        lines.append(f"    key_password: {_ref(store.key_password)}")
    if store.profile is not None and store.profile != "modern":
        lines.append(f"    pkcs12_profile: {store.profile}")
    if store.iterations is not None:
        lines.append(f"    iterations: {store.iterations}")
    lines.append("    entries:" if store.entries else "    entries: []")
    for entry in store.entries:
        lines += _entry(entry, store)
    return lines


def _entry(entry: AdoptedEntry, store: AdoptedStore) -> list[str]:
    lines: list[str] = []
    for note in entry.notes:
        lines += _comment(note, "      ")
    lines.append(f"      - alias: {_q(entry.alias)}")
    if entry.form == "import":
        lines += [
            "        import:",
            f"          keystore: {_q(store.path)}",
            f"          password: {_ref(store.password)}",
            *([f"          key_password: {_ref(store.key_password)}"] if store.key_password is not None else []),
            f"          alias: {_q(entry.alias)}",
        ]
    elif entry.form == "trusted":
        assert entry.certificate is not None
        lines.append(f"        trusted: {{certificate: {_q(entry.certificate.shown)}}}")
    else:
        lines += [
            "        generate:",
            f"          dname: {_q(entry.dname)}",
            "          key: {algorithm: " + entry.algorithm + (f", size: {entry.size}}}" if entry.size else "}"),
            f"          validity_days: {entry.validity_days}",
        ]
        if entry.san:
            lines.append(f"          san: [{', '.join(_q(s) for s in entry.san)}]")
        if entry.ca:
            lines.append("          ca: {}" if entry.path_length is None else
                         f"          ca: {{path_length: {entry.path_length}}}")
        if entry.form == "reply":
            assert entry.certificate is not None
            reply = f"          reply: {{certificate: {_q(entry.certificate.shown)}"
            if entry.chain:
                reply += f", chain: [{', '.join(_q(c.shown) for c in entry.chain)}]"
            lines.append(reply + "}")
    if entry.allow_expired:
        lines.append("        allow_expired: true")
    if entry.allow_weak:
        lines.append("        allow_weak: true")
    return lines


def show_written(written: Written) -> None:
    """What adopt wrote, and what the next plan will do."""
    from kstool.cli.views.console import escape  # noqa: PLC0415

    keystores = written.plan.keystores
    reencoded = [k.name for k in keystores if k.action.value != "no-op"]
    out = sys.stdout
    print(f"Wrote {escape(str(written.spec_path))} ({len(keystores)} keystore{'s' if len(keystores) != 1 else ''})",
          file=out)
    for shown in written.certificates:
        print(f"  certificate {escape(shown)}", file=out)
    if written.unchanged:
        print(f"  {len(written.unchanged)} certificate file(s) already held these certificates", file=out)
    if reencoded:
        print(f"kstool plan: no key changes; {len(reencoded)} keystore(s) to re-encode to kstool's canonical bytes "
              f"(keys kept): {', '.join(escape(n) for n in reencoded)}", file=out)
    else:
        print("kstool plan: no keystore changes (the keystores match the spec)", file=out)
