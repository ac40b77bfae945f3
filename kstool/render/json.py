"""The plan as JSON-ready data: the one view both renderers read. Public facts only."""

from __future__ import annotations

from typing import Any

from kstool.plan import DestroyedKey, EntryChange, KeystoreChange, Plan

FORMAT_VERSION = 1


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    destroyed = plan.destroyed_keys()
    return {
        "format_version": FORMAT_VERSION,
        "spec": plan.spec_file,
        "output_root": plan.output_root,
        "changes": plan.has_changes,
        "lock_file": "update" if plan.lock_update else "current",
        "summary": {**plan.summary(), "keys_destroyed": len(destroyed)},
        "entry_summary": plan.entry_summary(),
        "keystores": [_keystore(k) for k in plan.keystores],
        # every private key apply would destroy (a backup keeps the old file unless --no-backup)
        "destroyed_keys": [_destroyed(d) for d in destroyed],
        # recorded in kstool.lock, gone from the spec, but not deleted: apply removes them from kstool.lock
        "left_alone": [{"name": n, "path": p, "reason": r} for n, p, r in plan.left_alone],
        # artifacts other specs made in this output folder: never touched by this spec's apply
        "other_specs": [{"name": n, "path": p, "spec": o} for n, p, o in plan.foreign],
    }


def _destroyed(d: DestroyedKey) -> dict[str, Any]:
    out: dict[str, Any] = {"keystore": d.keystore, "path": d.path, "alias": d.alias, "action": d.action.value,
                           "reason": d.reason}
    for k in ("subject", "key", "sha256", "public_key_sha256"):
        if k in d.facts:
            out[k] = d.facts[k]
    return out


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
    if change.prevent_destroy:
        out["prevent_destroy"] = True
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
