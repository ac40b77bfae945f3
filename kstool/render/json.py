"""The plan as JSON-ready data: the one view both renderers read. Public facts only."""

from __future__ import annotations

from typing import Any

from kstool.plan import EntryChange, KeystoreChange, Plan

FORMAT_VERSION = 1


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "spec": plan.spec_file,
        "output_root": plan.output_root,
        "changes": plan.has_changes,
        "lock_file": "update" if plan.lock_update else "current",
        "summary": plan.summary(),
        "entry_summary": plan.entry_summary(),
        "keystores": [_keystore(k) for k in plan.keystores],
    }


def _keystore(change: KeystoreChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": change.name,
        "path": change.path,
        "type": change.type,
        "action": change.action.value,
        "reasons": list(change.reasons),
        "entries": [_entry(e) for e in change.entries],
    }
    if change.moved_from:
        out["moved_from"] = change.moved_from
    if change.password_files:
        out["password_files_generated"] = list(change.password_files)
    if change.password_file_fixes:
        out["password_files_fixed"] = list(change.password_file_fixes)
    return out


def _entry(change: EntryChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "alias": change.alias,
        "action": change.action.value,
        "reasons": list(change.reasons),
        "kind": change.kind,
        "source": change.source,
    }
    if change.before is not None:
        out["before"] = dict(change.before)
    if change.after is not None:
        out["after"] = dict(change.after)
    return out
