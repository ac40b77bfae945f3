"""What ``verify`` prints: each artifact ok or drifted, with its problems, and a verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kstool.cli.views.console import Line, Out, json_text

if TYPE_CHECKING:
    from kstool.engine.verify import VerifyReport


def show_verify(report: VerifyReport, *, as_json: bool) -> None:
    if as_json:
        print(json_text(verify_to_dict(report)))
        return
    lines: list[Line] = []
    for a in report.artifacts:
        if a.problems:
            lines.append([("DRIFT", "red"), f" {a.path} ({a.kind} {a.name})"])
            lines += [[f"      {problem}"] for problem in a.problems]
        else:
            lines.append([("ok", "green"), f"    {a.path}"])
    drifted = sum(1 for a in report.artifacts if a.problems)
    if drifted:
        lines.append([("Verify failed:", "bold red"), f" {drifted} of {len(report.artifacts)} artifact(s) drifted."])
    else:
        lines.append([("Verified:", "bold green"),
                      f" {len(report.artifacts)} artifact(s) match the spec and kstool.lock."])
    Out().lines(lines)


def verify_to_dict(report: VerifyReport) -> dict[str, Any]:
    """The ``verify --json`` document (also ``kstool.api.VerifyResult.to_dict``)."""
    return {"format_version": 1, "ok": report.ok,
            "artifacts": [{"name": a.name, "kind": a.kind, "path": a.path, "ok": not a.problems,
                           "problems": list(a.problems)}
                          for a in report.artifacts]}
