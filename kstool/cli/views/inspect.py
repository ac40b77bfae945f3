"""What ``inspect`` prints: like ``keytool -list -v`` (every certificate of every chain, with its extensions), or
the same public facts as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kstool.cli.views.console import Out, json_text


def show_inspect(file: Path, store_type: str, facts: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        doc = {"format_version": 1, "path": str(file), "type": store_type, "entries": facts}
        print(json_text(doc))
        return
    _render_inspect(file, store_type, facts)


def _render_inspect(file: Path, store_type: str, facts: list[dict[str, Any]]) -> None:
    """Like ``keytool -list -v``: every certificate of every chain, with its extensions."""
    lines = [f"Keystore type: {store_type.upper()}",
             f"Your keystore contains {len(facts)} entr{'y' if len(facts) == 1 else 'ies'}"]
    for f in facts:
        kind = "PrivateKeyEntry" if f["kind"] == "key" else "trustedCertEntry"
        lines += ["", f"Alias name: {f['alias']}", f"Entry type: {kind}"]
        if f["kind"] == "key":
            lines.append(f"Certificate chain length: {len(f['chain'])}")
        for i, cert in enumerate(f["chain"], 1):
            if f["kind"] == "key":
                lines.append(f"Certificate[{i}]:")
            lines += _certificate_lines(cert)
    Out().lines([text] for text in lines[:-1])  # no blank line after the last certificate


def _certificate_lines(c: dict[str, Any]) -> list[str]:
    days = c["days_left"]
    left = f"{days} day{'' if days == 1 else 's'} left" if days >= 0 else f"EXPIRED {-days} day(s) ago"
    key = c["key"]
    key_text = f"{key['algorithm']} {key['size']}" if key["size"] else key["algorithm"]
    if key["curve"]:
        key_text += f" ({key['curve']})"
    lines = [f"Owner: {c['subject']}", f"Issuer: {c['issuer']}", f"Serial number: {c['serial']}",
             f"Valid from: {c['not_before']} until: {c['not_after']} ({left})",
             "Certificate fingerprints:", f"   SHA1: {_colon_hex(c['sha1'])}", f"   SHA256: {_colon_hex(c['sha256'])}",
             f"Signature algorithm name: {c['signature_algorithm']}", f"Subject Public Key Algorithm: {key_text}",
             f"Version: {c['version']}"]
    described = [("Subject alternative names", ", ".join(c["subject_alt_names"]) if c["subject_alt_names"] else None),
                 ("Key usage", _joined(c["key_usage"])), ("Extended key usage", _joined(c["extended_key_usage"])),
                 ("Basic constraints", _constraints(c["basic_constraints"])),
                 ("Subject key identifier", _colon_hex(c["subject_key_identifier"] or "") or None),
                 ("Authority key identifier", _colon_hex(c["authority_key_identifier"] or "") or None)]
    shown = {"subjectAltName", "keyUsage", "extendedKeyUsage", "basicConstraints", "subjectKeyIdentifier",
             "authorityKeyIdentifier"}
    others = [f"{e['name']}{' (critical)' if e['critical'] else ''}" for e in c["extensions"] if e["name"] not in shown]
    described.append(("Other extensions", ", ".join(others) or None))
    if c["extensions"]:
        lines += ["Extensions:", *(f"  {name}: {value}" for name, value in described if value is not None)]
    return [*lines, ""]


def _joined(items: list[str] | None) -> str | None:
    return None if items is None else ", ".join(items) or "none"


def _constraints(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    length = "" if value["path_length"] is None else f", path length {value['path_length']}"
    return f"CA:{str(value['ca']).lower()}{length}"


def _colon_hex(hexdigest: str) -> str:
    return ":".join(hexdigest[i:i + 2] for i in range(0, len(hexdigest), 2)).upper()
