"""The plan for people, Terraform style, rendered from the same dict as --json."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

SYMBOLS = {
    "create": ("+", "green"),
    "update": ("~", "yellow"),
    "replace": ("-/+", "red"),
    "delete": ("-", "red"),
    "no-op": (" ", "dim"),
}


def render_plan(plan: dict[str, Any], console: Console, *, verbose: bool = False) -> None:
    for ks in plan["keystores"]:
        _keystore(ks, console, verbose)
    if plan.get("lock_file") == "update":
        console.print("[yellow]  ~[/] kstool.lock is missing or out of date: apply writes it (commit it)")
    console.print(_summary(plan))


def _keystore(ks: dict[str, Any], console: Console, verbose: bool) -> None:
    if ks["action"] == "no-op" and not ks.get("password_files_generated") and not verbose:
        return  # like terraform plan: only what changes (the summary counts the rest; -v lists it)
    symbol, style = SYMBOLS[ks["action"]]
    head = f"[{style}]{symbol:>3}[/] keystore [bold]{escape(ks['name'])}[/] ({escape(ks['path'])}, {ks['type']})"
    action = ks["action"] if ks["action"] != "no-op" else "no changes"
    console.print(f"{head}: [{style}]{action}[/]")
    for reason in ks["reasons"]:
        console.print(f"        {escape(reason)}")
    for path in ks.get("password_files_generated", []):
        console.print(f"        [green]password file {escape(path)} will be generated (mode 0600)[/]")
    for entry in ks["entries"]:
        if entry["action"] == "no-op" and not verbose:
            continue
        _entry(entry, console)


def _entry(entry: dict[str, Any], console: Console) -> None:
    symbol, style = SYMBOLS[entry["action"]]
    after = entry.get("after") or {}
    before = entry.get("before") or {}
    about = after.get("subject") or before.get("subject") or ""
    key = after.get("key") or before.get("key") or ""
    detail = ", ".join(x for x in (entry["kind"], key, about) if x)
    console.print(f"    [{style}]{symbol:>3}[/] {escape(entry['alias'])} [dim]({escape(detail)})[/]: "
                  f"[{style}]{entry['action']}[/]")
    for reason in entry["reasons"]:
        console.print(f"            {escape(reason)}")


def _summary(plan: dict[str, Any]) -> str:
    s = plan["summary"]
    e = plan["entry_summary"]
    if not plan["changes"]:
        return f"[green]No changes.[/] {len(plan['keystores'])} keystore(s) match the spec."
    if plan.get("lock_file") == "update" and not any(s[a] for a in ("create", "update", "replace", "delete")):
        return f"[bold]Plan:[/] only kstool.lock to write; {len(plan['keystores'])} keystore(s) match the spec."
    replaced = f", {s['replace']} to replace" if s["replace"] else ""
    return (f"[bold]Plan:[/] {s['create']} to create, {s['update']} to update{replaced}, {s['delete']} to delete "
            f"(entries: {e['create']} to create, {e['update']} to update, {e['replace']} to replace, "
            f"{e['delete']} to delete, {e['no-op']} unchanged).")
