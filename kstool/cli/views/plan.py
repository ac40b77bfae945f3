"""The plan, the one view both outputs read: ``plan_to_dict`` (the ``--json`` document, public facts only) and
``render_plan``, the same dict for people, Terraform style.

Lines are built as (text, style) segments: on a terminal rich colours them; anywhere else (CI logs, pipes,
NO_COLOR) they are written as plain text, which is also much faster for plans of thousands of stores.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kstool.cli.views.console import Line, Out, json_text
from kstool.engine.plan import Action, DestroyedKey, EntryChange, ExportChange, KeystoreChange, Plan

FORMAT_VERSION = 1


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    destroyed = plan.destroyed_keys()
    return {
        "format_version": FORMAT_VERSION,
        "spec": plan.spec_file,
        "output_root": plan.output_root,
        "changes": plan.has_changes,
        "lock_file": "update" if plan.lock_update else "current",
        "summary": {**_unknowns(plan.summary(), plan, plan.keystores), "keys_destroyed": len(destroyed)},
        "entry_summary": _unknowns(plan.entry_summary(), plan, [e for k in plan.keystores for e in k.entries]),
        "keystores": [_keystore_dict(k) for k in plan.keystores],
        # every private key apply would destroy (a backup keeps the old file unless --no-backup)
        "destroyed_keys": [_destroyed_dict(d) for d in destroyed],
        # recorded in kstool.lock, gone from the spec, but not deleted: apply removes them from kstool.lock
        "left_alone": [{"name": n, "path": p, "reason": r} for n, p, r in plan.left_alone],
        # artifacts other specs made in this output folder: never touched by this spec's apply
        "other_specs": [{"name": n, "path": p, "spec": o} for n, p, o in plan.foreign],
        # --target: only these keystores (and what they need) are planned; the rest is left as it is
        "partial": bool(plan.targets),
        **({"targets": list(plan.targets), "included": [{"name": n, "why": w} for n, w in plan.included],
            # keystores outside the run that reference or are issued by one inside it (a full plan updates them)
            "left_out_dependents": [{"name": n, "uses": u} for n, u in plan.dependents]}
           if plan.targets else {}),
        # PEM files and Kubernetes Secret manifests cut from the keystores' entries, one item per file
        "exports": [_export_dict(x) for x in plan.exports],
        "export_summary": _export_summary(plan.exports),
    } | _no_secrets_dict(plan)


def _no_secrets_dict(plan: Plan) -> dict[str, Any]:
    """A plan made without passwords says so, with what it checked and what it could not prove; a keystore or
    entry whose change it cannot rule out has the action "unknown" (counted apart in the summaries)."""
    if plan.no_secrets is None:
        return {}
    unverified = [{"keystore": k.name, "why": why} for k in plan.keystores for why in k.unverified]
    unverified += [{"keystore": k.name, "alias": e.alias, "why": why} for k in plan.keystores for e in k.entries
                   for why in e.unverified]
    return {"no_secrets": {"checked": list(plan.no_secrets.checked), "unproven": list(plan.no_secrets.unproven),
                           "unverified": unverified},
            "unknown_changes": plan.has_unverified}


def _unknown(change: KeystoreChange | EntryChange) -> bool:
    """A no-op a no-secrets plan could not prove: shown as "unknown"."""
    if change.action is not Action.NOOP:
        return False
    if isinstance(change, KeystoreChange):
        return bool(change.unverified) or any(e.unverified for e in change.entries)
    return bool(change.unverified)


def _unknowns(counts: dict[str, int], plan: Plan,
              changes: Sequence[KeystoreChange | EntryChange]) -> dict[str, int]:
    """A no-secrets plan counts its unproven no-ops as "unknown"."""
    if plan.no_secrets is None:
        return counts
    unknown = sum(1 for c in changes if _unknown(c))
    return {**counts, "no-op": counts["no-op"] - unknown, "unknown": unknown}


def _export_dict(x: ExportChange) -> dict[str, Any]:
    return {"export": x.export, "kind": x.kind, "role": x.role, "path": x.path, "action": x.action.value,
            "reasons": list(x.reasons)}


def _export_summary(exports: tuple[ExportChange, ...]) -> dict[str, int]:
    counts = {a: 0 for a in ("create", "update", "delete", "no-op")}
    for x in exports:
        counts[x.action.value] += 1
    return counts


def _destroyed_dict(d: DestroyedKey) -> dict[str, Any]:
    out: dict[str, Any] = {"keystore": d.keystore, "path": d.path, "alias": d.alias, "action": d.action.value,
                           "reason": d.reason}
    for k in ("subject", "key", "sha256", "public_key_sha256"):
        if k in d.facts:
            out[k] = d.facts[k]
    return out


def _keystore_dict(change: KeystoreChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": change.name,
        "path": change.path,
        "type": change.type,
        "action": "unknown" if _unknown(change) else change.action.value,
        "reasons": list(change.reasons),
        "entries": [_entry_dict(e) for e in change.entries],
    }
    if change.unverified:
        out["unverified"] = list(change.unverified)
    if change.moved_from:
        out["moved_from"] = change.moved_from
    if change.password_files:
        out["password_files_generated"] = list(change.password_files)
    if change.prevent_destroy:
        out["prevent_destroy"] = True
    if change.password_file_fixes:
        out["password_files_fixed"] = list(change.password_file_fixes)
    return out


def _entry_dict(change: EntryChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "alias": change.alias,
        "action": "unknown" if _unknown(change) else change.action.value,
        "reasons": list(change.reasons),
        "kind": change.kind,
        "source": change.source,
    }
    if change.before is not None:
        out["before"] = dict(change.before)
    if change.after is not None:
        out["after"] = dict(change.after)
    if change.not_after is not None:  # the plan had a clock: the leaf's notAfter after apply
        out["not_after"] = change.not_after
        out["days_left"] = change.days_left
        out["renewal_due"] = change.due
    if change.warnings:
        out["warnings"] = list(change.warnings)
    if change.unverified:
        out["unverified"] = list(change.unverified)
    return out


SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "replace": ("-/+", "red"),
    "delete": ("-", "red"),
    "no-op": (" ", "dim"),
    "unknown": ("?", "yellow"),
}


def show_plan(plan: Plan, *, as_json: bool, verbose: bool, markdown: bool = False) -> None:
    data = plan_to_dict(plan)
    if as_json:
        print(json_text(data))
    elif markdown:
        from kstool.cli.views.plan_markdown import render_markdown  # noqa: PLC0415

        print(render_markdown(data), end="")
    else:
        render_plan(data, Out(), verbose=verbose)


def show_saved(path: Path, *, to_stderr: bool) -> None:
    """After plan --out: where the plan went and how to apply it (on stderr when stdout carries JSON)."""
    text = (f"Saved the plan to {path} (no secrets, no keys). To apply exactly this plan: kstool apply {path}\n"
            "It is refused if the spec, an input file, an artifact, a setting or a decision differs by then.")
    print(text, file=sys.stderr if to_stderr else sys.stdout)


def show_saved_matches(path: Path, made: str | None) -> None:
    """apply FILE: the saved plan still holds (the plan printed next is the one made again, equal to it)."""
    when = f" (made {made.replace('T', ' ').replace('Z', ' UTC')})" if made else ""
    print(f"Applying the saved plan {path}{when}: the spec, inputs, artifacts, settings and decisions are unchanged.")


def render_plan(plan: dict[str, Any], out: Out, *, verbose: bool = False) -> None:
    out.lines(plan_lines(plan, verbose=verbose))


def plan_lines(plan: dict[str, Any], *, verbose: bool = False) -> list[Line]:
    lines: list[Line] = _no_secrets_banner(plan) + _partial(plan)
    for ks in plan["keystores"]:
        lines += _keystore(ks, verbose)
    for x in plan.get("exports", []):
        lines += _export(x, verbose)
    for other in plan.get("left_alone", []):
        lines.append([("  !", "yellow"), (f" keystore {other['name']} ({other['path']}) is in kstool.lock but not in "
                                          f"the spec; its file is left alone: {other['reason']}; apply removes it "
                                          "from kstool.lock", "")])
    others = plan.get("other_specs", [])
    if others:
        specs = ", ".join(sorted({o["spec"] for o in others}))
        lines.append([(f"    {len(others)} keystore(s) here belong to other specs ({specs}) and are left alone",
                       "dim")])
    if plan.get("lock_file") == "update":
        lines.append([("  ~", "yellow"), (" kstool.lock is missing or out of date: apply writes it (commit it)", "")])
    lines += _destroyed(plan.get("destroyed_keys", []))
    lines.append(_summary(plan))
    lines += _no_secrets_footer(plan)
    return lines


NO_SECRETS_BANNER = "No-secrets plan: made without any password, from the spec, kstool.lock and the public inputs."


def _no_secrets_banner(plan: dict[str, Any]) -> list[Line]:
    if "no_secrets" not in plan:
        return []
    return [[(NO_SECRETS_BANNER, "bold yellow"), (" It cannot be applied; what it could not prove is listed at the "
                                                  "end and marked ? (unknown).", "")]]


def _no_secrets_footer(plan: dict[str, Any]) -> list[Line]:
    info = plan.get("no_secrets")
    if info is None:
        return []
    lines: list[Line] = [[("No-secrets plan", "bold yellow"), (": checked without passwords:", "")]]
    lines += [[(f"  - {what}", "")] for what in info["checked"]]
    lines.append([("Not proven without passwords:", "bold yellow")])
    lines += [[(f"  - {what}", "")] for what in info["unproven"]]
    if info["unverified"]:
        n, m = plan["summary"].get("unknown", 0), plan["entry_summary"].get("unknown", 0)
        lines.append([(f"{n} keystore(s) and {m} entry(ies) are unknown (?): a change could not be ruled out; run "
                       "kstool plan with the passwords to know", "yellow")])
    return lines


def _partial(plan: dict[str, Any]) -> list[Line]:
    """Terraform's warning for -target, and why each keystore is in the run."""
    if not plan.get("partial"):
        return []
    lines: list[Line] = [[("Note:", "bold yellow"), (" this is a partial plan (--target " +
                                                    " --target ".join(plan.get("targets", [])) + "): only the "
                          "keystores below are planned; the others, and their kstool.lock records, are left as "
                          "they are. Run a full plan afterwards to see the whole estate.", "")]]
    for item in plan.get("included", []):
        lines.append([("    " + item["name"], "bold"), (f": {item['why']}", "dim")])
    for item in plan.get("left_out_dependents", []):
        lines.append([("    left out, though it depends on this run: ", "yellow"), (item["name"], "bold"),
                      (f" ({item['uses']})", "dim")])
    return lines


def _destroyed(keys: list[dict[str, Any]]) -> list[Line]:
    if not keys:
        return []
    lines: list[Line] = [[("Private keys this apply destroys", "bold red"),
                          (" (the old file is kept as a backup unless --no-backup):", "")]]
    for k in keys:
        what = "every key in the file" if k["alias"] == "*" else k["alias"]
        about = ", ".join(x for x in (k.get("key"), k.get("subject")) if x)
        lines.append([("  - ", "red"), (f"{k['keystore']}/{what}", "bold"), (f" ({about})" if about else "", "dim"),
                      (f": {k['action']}: {k['reason']}", "")])
    return lines
# reasons that only restate the action ("+ keystore x: create" needs no "new keystore" under it)
_FILLER = frozenset({"new keystore", "new entry"})


def _reasons(reasons: list[str], indent: str) -> Iterator[Line]:
    for reason in reasons:
        if reason not in _FILLER:
            yield [(f"{indent}{reason}", "")]


def _keystore(ks: dict[str, Any], verbose: bool) -> Iterator[Line]:
    due = any(e.get("renewal_due") for e in ks["entries"])
    if ks["action"] == "no-op" and not ks.get("password_files_generated") and not ks.get("password_files_fixed") \
            and not verbose and not due:
        return  # like terraform plan: only what changes (the summary counts the rest; -v lists it)
    symbol, style = SYMBOLS[ks["action"]]
    action = ks["action"] if ks["action"] != "no-op" else "no changes"
    replaced = _replaced_keys(ks)
    if replaced:  # counted as a replace in the headline: say why here
        action += f" ({replaced} key{'s' if replaced > 1 else ''} replaced)"
    yield [(f"{symbol:>3}", style), (" keystore ", ""), (ks["name"], "bold"),
           (f" ({ks['path']}, {ks['type']}): ", ""), (action, style)]
    yield from _reasons(ks["reasons"], "        ")
    for why in ks.get("unverified", []):
        yield [(f"        ? not proven: {why}", "yellow")]
    for path in ks.get("password_files_generated", []):
        yield [(f"        password file {path} will be generated", "green")]
    for fix in ks.get("password_files_fixed", []):
        yield [(f"        password file {fix}: apply sets it as the spec says", "yellow")]
    for entry in ks["entries"]:
        if entry["action"] != "no-op" or verbose or entry.get("renewal_due"):
            yield from _entry(entry)


def _export(x: dict[str, Any], verbose: bool) -> Iterator[Line]:
    if x["action"] == "no-op" and not verbose:
        return
    symbol, style = SYMBOLS[x["action"]]
    action = x["action"] if x["action"] != "no-op" else "no changes"
    kind = "Kubernetes Secret" if x["kind"] == "kubernetes_secret" else f"PEM {x['role']}"
    yield [(f"{symbol:>3}", style), (" export ", ""), (x["export"], "bold"), (f" ({x['path']}, {kind}): ", ""),
           (action, style)]
    yield from _reasons([r for r in x["reasons"] if r != "new file"], "        ")


def _replaced_keys(ks: dict[str, Any]) -> int:
    return sum(1 for e in ks["entries"] if e["action"] == "replace") if ks["action"] == "update" else 0


def _entry(entry: dict[str, Any]) -> Iterator[Line]:
    symbol, style = SYMBOLS[entry["action"]]
    after = entry.get("after") or {}
    before = entry.get("before") or {}
    about = after.get("subject") or before.get("subject") or ""
    key = after.get("key") or before.get("key") or ""
    detail = ", ".join(x for x in (entry["kind"], key, about) if x)
    yield [(f"    {symbol:>3}", style), (f" {entry['alias']} ", ""), (f"({detail})", "dim"), (": ", ""),
           (entry["action"], style)]
    yield from _reasons(entry["reasons"], "            ")
    if "not_after" in entry and (entry["action"] in ("update", "replace") or entry.get("renewal_due")):
        left = entry["days_left"]
        when = f"{left} days left" if left >= 0 else f"expired {-left} days ago"
        yield [(f"            valid until {entry['not_after']} ({when})", "yellow" if entry["renewal_due"] else "dim")]
    for warning in entry.get("warnings", []):
        yield [(f"            ! {warning}", "yellow")]
    for why in entry.get("unverified", []):
        yield [(f"            ? not proven: {why}", "yellow")]


def _summary(plan: dict[str, Any]) -> Line:
    """One headline of one shape: every action counted, a keystore that replaces a key counted as a replace."""
    e = plan["entry_summary"]
    n = len(plan["keystores"])
    if "no_secrets" in plan and not plan["changes"]:
        unknown = plan["summary"].get("unknown", 0)
        return [("No changes known.", "green" if not unknown else "yellow"),
                (f" {n} keystore(s), {unknown} of them unknown (?).", "")]
    x = plan.get("export_summary") or {}
    n_x = sum(x.values())
    if not plan["changes"]:
        files = f" and {n_x} export file(s)" if n_x else ""
        return [("No changes.", "green"), (f" {n} keystore(s){files} match the spec.", "")]
    counts = plan["summary"]  # a keystore that replaces a key is counted as a replace there
    exports = ([(f" Export files: {x['create']} to create, {x['update']} to update, {x['delete']} to delete.", "")]
               if n_x and n_x != x["no-op"] else [])
    if plan.get("lock_file") == "update" and not any(counts[a] for a in ("create", "update", "replace", "delete")) \
            and not exports:
        return [("Plan:", "bold"), (f" only kstool.lock to write; {n} keystore(s) match the spec.", "")]
    destroyed = plan["summary"].get("keys_destroyed", 0)
    keys = [(f" {destroyed} private key(s) destroyed.", "bold red")] if destroyed else []
    unknown = [(f" {counts['unknown']} keystore(s) unknown (?).", "yellow")] if counts.get("unknown") else []
    return [("Plan:", "bold"), (f" {counts['create']} to create, {counts['update']} to update, {counts['replace']} "
            f"to replace, {counts['delete']} to delete (entries: {e['create']} to create, {e['update']} to update, "
            f"{e['replace']} to replace, {e['delete']} to delete, {e['no-op']} unchanged).", ""), *exports, *keys,
            *unknown]
