"""The Markdown plan (``kstool plan --format markdown``), parsed by a real Markdown parser (markdown-it-py with the
GFM table extension, raw HTML enabled so that injected HTML would show up as HTML tokens).

Plans are built by hand (``Plan`` → ``plan_to_dict`` → ``render_markdown``): any string a spec, a lock file or a
certificate could put into a plan, hostile ones included.
"""

from __future__ import annotations

from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from kstool.cli.views.plan import plan_to_dict
from kstool.cli.views.plan_markdown import code, render_markdown, text
from kstool.engine.plan import Action, EntryChange, KeystoreChange, NoSecrets, Plan

# HTML the renderer itself writes (collapsible sections); anything else is an injection
OWN_HTML = ("<details>", "</details>", "<summary>", "</summary>", "<br>")


def parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def _inline_text(token: Token) -> str:
    out = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type == "softbreak":
            out.append("\n")
    return "".join(out)


def parse_tables(markdown: str) -> tuple[list[list[list[str]]], list[str]]:
    """Every table as rows of cell texts (header row first), and every token type (inline ones included)."""
    tokens = parser().parse(markdown)
    tables: list[list[list[str]]] = []
    row: list[str] | None = None
    kinds: list[str] = []
    for i, token in enumerate(tokens):
        kinds.append(token.type)
        kinds += [c.type for c in token.children or []]
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            assert row is not None
            tables[-1].append(row)
            row = None
        elif token.type in ("th_open", "td_open"):
            assert row is not None
            row.append(_inline_text(tokens[i + 1]) if tokens[i + 1].type == "inline" else "")
    return tables, kinds


def html_of(markdown: str) -> list[str]:
    """The raw HTML the parser found (blocks and inline)."""
    found = []
    for token in parser().parse(markdown):
        if token.type == "html_block":
            found.append(token.content.strip())
        found += [c.content for c in token.children or [] if c.type == "html_inline"]
    return found


FACTS = {"subject": "CN=svc, O=Example", "key": "EC 256", "sha256": "ab" * 32, "not_after": "2027-06-01T00:00:00Z",
         "not_before": "2026-06-01T00:00:00Z", "public_key_sha256": "cd" * 32}


def entry(alias: str, action: Action, *reasons: str, kind: str = "key", **extra: Any) -> EntryChange:
    return EntryChange(alias, action, reasons, kind, "generate", **extra)  # type: ignore[arg-type]


def keystore(name: str, action: Action, *entries: EntryChange, path: str = "out/x.p12",
             **extra: Any) -> KeystoreChange:
    return KeystoreChange(name, path, "pkcs12", action, (), entries, **extra)


def render(*keystores: KeystoreChange, **extra: Any) -> str:
    return render_markdown(plan_to_dict(Plan("kstool.yaml", ".", keystores, **extra)))


def test_a_table_per_changed_keystore_with_fingerprints_and_expiry() -> None:
    new = {**FACTS, "sha256": "ef" * 32}
    markdown = render(
        keystore("web", Action.UPDATE,
                 entry("tls", Action.UPDATE, "certificate changed", before=FACTS, after=new,
                       not_after="2027-06-01T00:00:00Z", days_left=181),
                 entry("other", Action.NOOP, before=FACTS, after=FACTS)),
        keystore("quiet", Action.NOOP, entry("a", Action.NOOP, before=FACTS, after=FACTS)))
    tables, _ = parse_tables(markdown)
    assert len(tables) == 1  # the unchanged keystore is only named, in a <details>
    header, tls, other = tables[0]
    assert header == ["Entry", "Action", "Reasons", "Certificate SHA-256", "Expires"]
    assert tls == ["tls", "update", "certificate changed", f"{'ab' * 8}… → {'ef' * 8}…",
                   "2027-06-01 (181 days left)"]
    assert other[:2] == ["other", "no-op"]
    assert markdown.splitlines()[2].startswith("**Plan:** 0 to create, 1 to update")
    assert "1 keystore(s) without changes" in markdown


def test_what_destroys_a_key_is_bold_with_a_warning() -> None:
    markdown = render(keystore("web", Action.UPDATE, entry("tls", Action.REPLACE, "key changed: EC 256 → EC 384",
                                                           before=FACTS)))
    tokens = parser().parse(markdown)
    cells = [t for t in tokens if t.type == "inline" and "replace" in t.content and "destroys" in t.content]
    assert cells and any(c.type == "strong_open" for c in cells[0].children or [])
    assert "> **This plan destroys 1 private key(s)**" in markdown
    assert "**1 private key(s) destroyed.**" in markdown


HOSTILE = [
    "pipe|in|alias",
    "back`tick``s",
    "<script>alert(1)</script>",
    "new\nline | injected | row",
    "[click](https://evil.example)",
    "https://evil.example/autolink",
    "![img](https://evil.example/x.png)",
    "**bold** _em_ ~~strike~~",
    "\\| escaped pipe",
    "# heading",
    "- list",
    "&lt;entity&gt; &amp;",
    "`",
    " ",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_do_not_break_the_table(hostile: str) -> None:
    markdown = render(keystore(hostile, Action.UPDATE,
                               entry(hostile, Action.UPDATE, f"dname changed: {hostile} → CN={hostile}",
                                     before={**FACTS, "subject": hostile}),
                               entry("after", Action.CREATE),
                               path=f"out/{hostile}.p12"),
                      no_secrets=NoSecrets((f"checked {hostile}",), (f"unproven {hostile}",)))
    tables, kinds = parse_tables(markdown)
    assert len(tables) == 1
    rows = tables[0]
    assert len(rows) == 3 and all(len(row) == 5 for row in rows)
    flat = hostile.replace("\n", " ")
    assert rows[1][0].strip() == flat.strip() or (flat.strip() == "" and rows[1][0].strip() == "")
    assert rows[1][2] == f"dname changed: {flat} → CN={flat}".strip()
    assert rows[2][:2] == ["after", "create"]
    assert not [k for k in kinds if k in ("link_open", "image", "s_open", "em_open")]
    assert all(h in OWN_HTML for h in html_of(markdown)), html_of(markdown)
    # the heading of the keystore holds the name as one code span
    heading = parser().parse(markdown)
    names = [c.content for t in heading if t.type == "inline" for c in t.children or []
             if c.type == "code_inline" and t.content.startswith("update: keystore")]
    assert names[0].strip() == flat.strip()


def test_long_reasons_fold_into_details() -> None:
    reasons = [f"reason number {i} " + "x" * 40 for i in range(5)]
    markdown = render(keystore("web", Action.UPDATE, entry("tls", Action.UPDATE, *reasons, before=FACTS)))
    tables, _ = parse_tables(markdown)
    assert len(tables[0]) == 2 and len(tables[0][1]) == 5
    assert html_of(markdown).count("<details>") >= 1


def test_a_no_secrets_plan_says_so_at_the_top_and_the_bottom() -> None:
    markdown = render(
        keystore("web", Action.NOOP, entry("tls", Action.NOOP, before=FACTS, after=FACTS,
                                           unverified=("the file changed since kstool.lock",)),
                 unverified=("out/x.p12 is not the file kstool.lock recorded",)),
        no_secrets=NoSecrets(("each keystore file's SHA-256 against kstool.lock: 0 match, 1 differ (web)",),
                             ("no password was read",)))
    lines = markdown.splitlines()
    assert "No-secrets plan" in "\n".join(lines[:5])
    assert "**No changes known.** 1 keystore(s). **1 keystore(s) unknown**" in markdown
    tables, _ = parse_tables(markdown)
    assert tables[0][1][:2] == ["tls", "unknown"]
    assert "not proven: the file changed since kstool.lock" in tables[0][1][2]
    tail = "\n".join(lines[-8:])
    assert "Not proven without passwords" in tail and "no password was read" in tail
    assert "1 keystore(s) and 1 entry(ies) are **unknown**" in tail


def test_escaping_functions() -> None:
    assert text("a|b") == "a\\|b"
    assert text("- x") == "\\- x" and text("x - y") == "x - y"
    assert text("1. x") == "1\\. x"
    assert code("a`b") == "``a`b``" and code("`a") == "`` `a ``"
    assert code("a|b") == "`a\\|b`" and code("a|b", in_table=False) == "`a|b`"
    assert "\n" not in text("a\nb\r\nc\u2028d") and "\n" not in code("a\nb")
