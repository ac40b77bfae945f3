"""The plan as GitHub-flavoured Markdown, fit to paste as a pull-request comment (``kstool plan --format markdown``).

It renders the very dict ``plan_to_dict`` gives (the ``--json`` document), like the human renderer. Everything that
comes from the spec, kstool.lock or a certificate (names, aliases, paths, subjects, reasons) is untrusted: it is put
in code spans or escaped so that it can neither break a table nor add HTML, links, images or emphasis; newlines
and control characters become spaces. Passwords are never in the dict to begin with.
"""

from __future__ import annotations

import re
from typing import Any

# ASCII punctuation Markdown (CommonMark + GFM: tables, strikethrough, autolinks, math) gives a meaning to;
# CommonMark lets any ASCII punctuation be backslash-escaped, which makes it literal
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()|~:@&$.!])")
_LEADING = re.compile(r"^([-+#=>])")  # a list, heading, setext line or quote only where a line starts
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
LONG_REASONS = 160  # characters: longer reasons fold into a <details> in their cell


def text(value: object) -> str:
    """Untrusted text as literal Markdown: one line, every special character escaped."""
    return _LEADING.sub(r"\\\1", _SPECIAL.sub(r"\\\1", _CONTROL.sub(" ", str(value)).strip()))


def code(value: object, *, in_table: bool = True) -> str:
    """Untrusted text as a code span (no Markdown or HTML inside one); in a table a pipe is escaped, which GFM
    removes before the span is parsed."""
    body = _CONTROL.sub(" ", str(value))
    if in_table:
        body = body.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith(("`", " ")) or body.endswith(("`", " ")) or not body else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def render_markdown(plan: dict[str, Any]) -> str:
    lines: list[str] = ["### kstool plan", ""]
    no_secrets = plan.get("no_secrets")
    if no_secrets is not None:
        lines += ["> [!NOTE]", "> **No-secrets plan**: made without any password, from the spec, `kstool.lock` "
                  "and the public inputs. It cannot be applied; what it could not prove is listed at the end and "
                  "marked **unknown**.", ""]
    lines += [_summary(plan), ""]
    destroyed = plan.get("destroyed_keys", [])
    if destroyed:
        lines += _destroyed(destroyed)
    unchanged: list[str] = []
    for ks in plan["keystores"]:
        if _quiet(ks):
            unchanged.append(code(ks["name"], in_table=False))
            continue
        lines += _keystore(ks, destroyed)
    lines += _others(plan)
    if unchanged:
        lines += [f"<details><summary>{len(unchanged)} keystore(s) without changes</summary>", "",
                  ", ".join(unchanged), "", "</details>", ""]
    if no_secrets is not None:
        lines += _caveats(plan, no_secrets)
    return "\n".join(lines).rstrip("\n") + "\n"


def _quiet(ks: dict[str, Any]) -> bool:
    return ks["action"] == "no-op" and not ks.get("password_files_generated") and \
        not ks.get("password_files_fixed") and not any(e.get("renewal_due") for e in ks["entries"])


def _summary(plan: dict[str, Any]) -> str:
    counts, e = plan["summary"], plan["entry_summary"]
    n = len(plan["keystores"])
    unknown = counts.get("unknown", 0)
    tail = f" **{unknown} keystore(s) unknown** (a change could not be ruled out without passwords)." \
        if unknown else ""
    if not plan["changes"]:
        head = "**No changes known.**" if "no_secrets" in plan else "**No changes.**"
        return f"{head} {n} keystore(s).{tail}"
    destroyed = counts.get("keys_destroyed", 0)
    keys = f" **{destroyed} private key(s) destroyed.**" if destroyed else ""
    lock = " `kstool.lock` is written." if plan.get("lock_file") == "update" else ""
    return (f"**Plan:** {counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
            f"{counts['delete']} to delete (entries: {e['create']} to create, {e['update']} to update, "
            f"{e['replace']} to replace, {e['delete']} to delete, {e['no-op']} unchanged).{keys}{lock}{tail}")


def _destroyed(keys: list[dict[str, Any]]) -> list[str]:
    lines = ["> [!WARNING]", f"> **This plan destroys {len(keys)} private key(s)** (the old file is kept as a backup "
             "unless `--no-backup`):"]
    for k in keys:
        what = "every key in the file" if k["alias"] == "*" else code(k["alias"], in_table=False)
        about = ", ".join(text(x) for x in (k.get("key"), k.get("subject")) if x)
        lines.append(f"> - **{code(k['keystore'], in_table=False)} / {what}**"
                     + (f" ({about})" if about else "") + f": {text(k['action'])}: {text(k['reason'])}")
    return [*lines, ""]


_HEADER = ["| Entry | Action | Reasons | Certificate SHA-256 | Expires |", "| --- | --- | --- | --- | --- |"]


def _keystore(ks: dict[str, Any], destroyed: list[dict[str, Any]]) -> list[str]:
    action = ks["action"] if ks["action"] != "no-op" else "no changes"
    lines = [f"#### {text(action)}: keystore {code(ks['name'], in_table=False)} "
             f"({code(ks['path'], in_table=False)}, {text(ks['type'])})", ""]
    extra = [text(r) for r in ks["reasons"] if r != "new keystore"]
    extra += [f"password file {code(p, in_table=False)} will be generated"
              for p in ks.get("password_files_generated", [])]
    extra += [f"password file {text(f)}: apply sets it as the spec says" for f in ks.get("password_files_fixed", [])]
    extra += [f"**not proven:** {text(u)}" for u in ks.get("unverified", [])]
    if ks.get("moved_from"):
        extra.append(f"moved from {code(ks['moved_from'], in_table=False)}")
    lines += [f"- {x}" for x in extra]
    if extra:
        lines.append("")
    gone = {k["alias"] for k in destroyed if k["keystore"] == ks["name"]}
    everything = "*" in gone
    lines += _HEADER
    for entry in ks["entries"]:
        lines.append(_row(entry, destroys=everything or entry["alias"] in gone))
    return [*lines, ""]


def _row(entry: dict[str, Any], *, destroys: bool) -> str:
    action = text(entry["action"])
    if destroys and entry["action"] in ("replace", "delete"):
        action = f"**{action}** (destroys a private key)"
    elif entry["action"] == "unknown":
        action = f"**{action}**"
    reasons = [text(r) for r in entry["reasons"] if r != "new entry"]
    reasons += [f"**not proven:** {text(u)}" for u in entry.get("unverified", [])]
    reasons += [f"**warning:** {text(w)}" for w in entry.get("warnings", [])]
    cells = [code(entry["alias"]), action, _reasons_cell(reasons), _fingerprint(entry), _expiry(entry)]
    return "| " + " | ".join(cells) + " |"


def _reasons_cell(reasons: list[str]) -> str:
    joined = "; ".join(reasons)
    if len(joined) <= LONG_REASONS or len(reasons) < 2:
        return joined
    return f"<details><summary>{reasons[0]}</summary>{'<br>'.join(reasons[1:])}</details>"


def _short(sha: object) -> str:
    return code(f"{str(sha)[:16]}…")


def _fingerprint(entry: dict[str, Any]) -> str:
    before = (entry.get("before") or {}).get("sha256")
    after = (entry.get("after") or {}).get("sha256")
    if entry["action"] == "delete":
        return _short(before) if before else ""
    if after and before and after != before:
        return f"{_short(before)} → {_short(after)}"
    if after or before:
        return _short(after or before)
    return "new certificate at apply" if entry["action"] in ("create", "update", "replace") else ""


def _expiry(entry: dict[str, Any]) -> str:
    if "not_after" not in entry:
        return ""
    date = text(str(entry["not_after"])[:10])
    left = entry.get("days_left")
    if not isinstance(left, int):
        return date
    when = f"{left} days left" if left >= 0 else f"expired {-left} days ago"
    due = " **renewal due**" if entry.get("renewal_due") else ""
    return f"{date} ({when}){due}"


def _others(plan: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for other in plan.get("left_alone", []):
        lines.append(f"- keystore {code(other['name'], in_table=False)} ({code(other['path'], in_table=False)}) is "
                     f"in `kstool.lock` but not in the spec; its file is left alone: {text(other['reason'])}")
    others = plan.get("other_specs", [])
    if others:
        lines.append(f"- {len(others)} keystore(s) here belong to other specs and are left alone")
    if plan.get("lock_file") == "update":
        lines.append("- `kstool.lock` is missing or out of date: apply writes it (commit it)")
    return [*lines, ""] if lines else []


def _unknown_count(plan: dict[str, Any]) -> str:
    return (f"{plan['summary'].get('unknown', 0)} keystore(s) and {plan['entry_summary'].get('unknown', 0)} "
            "entry(ies)")


def _caveats(plan: dict[str, Any], info: dict[str, Any]) -> list[str]:
    lines = ["> [!IMPORTANT]", "> **No-secrets plan.** Checked without passwords:"]
    lines += [f"> - {text(c)}" for c in info["checked"]]
    lines += [">", "> Not proven without passwords:"]
    lines += [f"> - {text(u)}" for u in info["unproven"]]
    if info["unverified"]:
        lines += [">", f"> {_unknown_count(plan)} are **unknown** (above): a change could not be ruled out; run "
                  "`kstool plan` with the passwords to know."]
    return [*lines, ""]
