"""``kstool check``: the estate's health as text, JSON, or Prometheus text format (node_exporter's textfile
collector). One dict (``health_to_dict``) feeds the text and JSON views; public facts only, never a secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kstool.cli.views.console import Out, json_text
from kstool.engine.check import EntryHealth, Health, StoreHealth

FORMAT_VERSION = 1


def health_to_dict(health: Health) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "spec": health.spec,
        "now": health.now,
        "horizon_days": health.horizon_days,
        "healthy": not health.attention,
        "keystores": [_store_dict(s) for s in health.stores],
        "warnings": list(health.warnings),
        "drift": list(health.notes),  # outside the spec's keystores: kstool.lock, keystores removed from the spec
    }


def _store_dict(store: StoreHealth) -> dict[str, Any]:
    return {"name": store.name, "path": store.path, "type": store.type, "missing": store.missing,
            "drift": list(store.drift), "weak": list(store.weak), "attention": store.attention,
            "entries": [_entry_dict(e) for e in store.entries]}


def _entry_dict(e: EntryHealth) -> dict[str, Any]:
    return {"alias": e.alias, "kind": e.kind, "source": e.source, "subject": e.subject, "not_before": e.not_before,
            "not_after": e.not_after, "days_left": e.days_left, "renewal_due": e.renewal_due, "expired": e.expired,
            "not_yet_valid": e.not_yet_valid, "within_horizon": e.within_horizon, "weak": list(e.weak),
            "drift": e.drift, "attention": e.attention}


def show_check(health: Health, *, as_json: bool, prometheus: bool) -> None:
    if prometheus:
        print(prometheus_text(health), end="")
    elif as_json:
        print(json_text(health_to_dict(health)))
    else:
        _render(health_to_dict(health), Out())


def _render(data: dict[str, Any], out: Out) -> None:
    lines: list[list[tuple[str, str]]] = []
    for ks in data["keystores"]:
        mark, style = ("!", "yellow") if ks["attention"] else ("ok", "green")
        state = "missing" if ks["missing"] else ("drifted" if ks["drift"] else "present")
        lines.append([(f"{mark:>3}", style), (" keystore ", ""), (ks["name"], "bold"),
                      (f" ({ks['path']}, {ks['type']}): {state}", "")])
        lines += [[(f"        drift: {why}", "yellow")] for why in ks["drift"]]
        lines += [[(f"        weak: {why}", "yellow")] for why in ks["weak"]]
        for e in ks["entries"]:
            lines.append([(f"      {'!' if e['attention'] else ' '} {e['alias']}", "yellow" if e["attention"] else ""),
                          (f" ({_what(e)}, {e['subject']}): {_when(e)}", "")])
            lines += [[(f"          weak: {why}", "yellow")] for why in e["weak"]]
    lines += [[(f"  ! {note}", "yellow")] for note in data["drift"]]  # (warnings went to stderr already)
    attention = sum(1 for ks in data["keystores"] if ks["attention"])
    if data["healthy"]:
        lines.append([("Healthy:", "green"), (f" {len(data['keystores'])} keystore(s) checked at {data['now']} "
                                              f"(horizon {data['horizon_days']} days).", "")])
    else:
        lines.append([("Attention needed:", "bold yellow"),
                      (f" {attention} of {len(data['keystores'])} keystore(s) at {data['now']} (horizon "
                       f"{data['horizon_days']} days).", "")])
    out.lines(lines)


def _when(e: dict[str, Any]) -> str:
    if e["expired"]:
        text = f"EXPIRED on {e['not_after']} ({-e['days_left']} days ago)"
    elif e["not_yet_valid"]:
        text = f"not valid before {e['not_before']}"
    else:
        text = f"valid until {e['not_after']} ({e['days_left']} days left)"
    if e["renewal_due"]:
        text += "; renewal due" if e["source"] == "generate" else "; due: replace its input file"
    elif e["within_horizon"]:
        text += "; within the horizon"
    if e["drift"]:
        text += f"; plan: {e['drift']}"
    return text


# -- Prometheus text format ---------------------------------------------------------------------------------

_METRICS = (
    ("kstool_certificate_not_after_seconds", "notAfter of the entry's leaf certificate, Unix time."),
    ("kstool_certificate_not_before_seconds", "notBefore of the entry's leaf certificate, Unix time."),
    ("kstool_certificate_days_left", "Whole days until the leaf certificate expires (negative: expired)."),
    ("kstool_certificate_renewal_due", "1 when the certificate is inside its renewal window (or expired)."),
    ("kstool_certificate_expired", "1 when the certificate is expired or not yet valid."),
    ("kstool_certificate_weak", "1 when the chain has an RSA key < 2048 bits, a DSA key or a SHA-1/MD5 signature."),
    ("kstool_certificate_drift", "1 when plan would change this entry."),
)
_STORE_METRICS = (
    ("kstool_keystore_missing", "1 when the keystore file does not exist."),
    ("kstool_keystore_drift", "1 when plan would change the keystore."),
    ("kstool_keystore_weak", "1 when the keystore's protection is weak (legacy PKCS12 profile: 3DES, SHA-1 MAC)."),
)


def prometheus_text(health: Health) -> str:
    lines: list[str] = []
    entries = [(s, e) for s in health.stores for e in s.entries]
    for i, (name, help_text) in enumerate(_METRICS):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for store, e in entries:
            labels = _labels(keystore=store.name, path=store.path, alias=e.alias, kind=e.kind, source=e.source,
                             subject=e.subject)
            lines.append(f"{name}{{{labels}}} {_entry_value(i, e)}")
    for name, help_text in _STORE_METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for store in health.stores:
            value = {"kstool_keystore_missing": store.missing, "kstool_keystore_drift": bool(store.drift),
                     "kstool_keystore_weak": bool(store.weak)}[name]
            lines.append(f"{name}{{{_labels(keystore=store.name, path=store.path)}}} {int(value)}")
    lines += ["# HELP kstool_check_attention 1 when kstool check exits 2 (something needs attention).",
              "# TYPE kstool_check_attention gauge", f"kstool_check_attention {int(health.attention)}",
              "# HELP kstool_check_timestamp_seconds The clock the check ran at, Unix time.",
              "# TYPE kstool_check_timestamp_seconds gauge", f"kstool_check_timestamp_seconds {_seconds(health.now)}"]
    return "\n".join(lines) + "\n"


def _entry_value(i: int, e: EntryHealth) -> int:
    return [_seconds(e.not_after), _seconds(e.not_before), e.days_left, int(e.renewal_due),
            int(e.expired or e.not_yet_valid), int(bool(e.weak)), int(e.drift is not None)][i]


def _seconds(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def _labels(**values: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in values.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _what(entry: dict[str, Any]) -> str:
    """"key, generate", "key, import" or just "trusted" (a trusted entry's source adds nothing)."""
    return entry["kind"] if entry["source"] == entry["kind"] else f"{entry['kind']}, {entry['source']}"
