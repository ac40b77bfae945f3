"""The typer application: flags → ``kstool.cli.commands`` → exit codes. ``kstool.cli.main`` runs it and catches errors.

Each command imports its function from ``kstool.cli.commands`` (the one registry) when it runs, so that
``--help`` and usage errors load no engine code.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kstool import __version__
from kstool.errors import ExitCode

if TYPE_CHECKING:
    from kstool.cli import Session

app = typer.Typer(
    name="kstool",
    help="Build Java keystores (JKS, JCEKS, PKCS12) from a reviewed YAML spec: validate, plan, apply.",
    epilog="Exit codes: 0 success or no changes; 1 error (or verify found drift); 2 changes pending (plan "
           "--detailed-exitcode) or attention needed (check); 3 unexpected error (a bug); 4 apply failed and "
           "restoring the old files failed too; 5 another apply holds the lock; 6 plan --no-secrets "
           "--detailed-exitcode: no known change, one not ruled out; 130 interrupted (Ctrl-C), "
           "143 terminated (SIGTERM).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

SpecArg = Annotated[Path, typer.Argument(help="The spec file (YAML), e.g. kstool.yaml.", show_default=False)]
OutputDir = Annotated[
    Path | None,
    typer.Option("--output-dir", "-o", help="Write/read artifacts here instead of the spec's folder."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _no_color(value: bool) -> None:
    if value:
        from kstool.cli.views.console import disable_colour  # noqa: PLC0415

        disable_colour()


NoColor = Annotated[bool, typer.Option("--no-color", callback=_no_color, expose_value=False,
                                       help="Plain text without colours (as NO_COLOR=1 does).")]
class PlanFormat(StrEnum):
    """``plan --format``: what a person reads, the JSON document, or Markdown for a pull-request comment."""

    HUMAN = "human"
    JSON = "json"
    MARKDOWN = "markdown"


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Also list unchanged keystores and entries.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kstool {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show a traceback for unexpected errors.")] = False,
    no_color: NoColor = False,
) -> None:
    """kstool: declarative, reproducible Java keystores.

    Exit codes: 0 success (no changes), 1 error (or verify found drift), 2 changes pending
    (plan --detailed-exitcode), 3 unexpected error (a bug), 4 apply failed and restoring the old files
    failed too, 5 another apply holds the lock, 6 plan --no-secrets --detailed-exitcode: no known change but one it
    could not rule out, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
    """
    if ctx.obj is not None:  # the Session run() passes: the error boundary reads it
        ctx.obj.debug = debug


@app.command()
def validate(
    spec: Annotated[list[Path], typer.Argument(
        help="The spec file(s) (YAML), e.g. kstool.yaml; every error of every file is reported.",
        show_default=False)],
    no_color: NoColor = False,
) -> None:
    """Check specs against the schema and their cross-references (no secrets or files needed)."""
    from kstool.cli.commands import cmd_validate  # noqa: PLC0415

    raise typer.Exit(cmd_validate(spec))


Jobs = Annotated[int, typer.Option(
    "--jobs", "-j", min=0, metavar="N",
    help="At most N processes for RSA key generation, for encoding or opening many stores and for reading many "
         "certificate files (default 0: one per "
         "core; never more than the CPUs available or the tasks at hand).")]
StrictPermissions = Annotated[bool, typer.Option(
    "--strict-permissions", help="Fail (instead of warn) when a password file is readable by group or others.")]
Targets = Annotated[list[str] | None, typer.Option(
    "--target", metavar="KEYSTORE[/ALIAS]",
    help="Limit the run to this keystore and the keystores it needs (trusted references, issuers); repeatable. "
         "KEYSTORE/ALIAS also refuses a run that would change another entry of KEYSTORE. The plan says it is "
         "partial; other keystores and their kstool.lock records are left as they are.")]
ReplaceUnreadable = Annotated[bool, typer.Option(
    "--replace-unreadable",
    help="Rebuild artifacts that are corrupt or that the passwords cannot open (keys are regenerated; the old "
         "file is kept as a backup). Without it such an artifact is an error.")]


@app.command()
def plan(
    spec: SpecArg,
    output_dir: OutputDir = None,
    json: JsonFlag = False,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 2 when there are changes, 0 when none, 1 on error (with --no-secrets: 6 "
                                    "when no change is known but one could not be ruled out).")] = False,
    verbose: Verbose = False,
    output_format: Annotated[PlanFormat | None, typer.Option(
        "--format", metavar="human|json|markdown", case_sensitive=False,
        help="Output format (--json is --format json); markdown: a pull-request comment.")] = None,
    no_secrets: Annotated[bool, typer.Option(
        "--no-secrets", help="Plan without any password (a reviewer, a fork's pull request): from the spec, "
                             "kstool.lock and the public input files; says what it could not prove.")] = False,
    strict_permissions: StrictPermissions = False,
    replace_unreadable: ReplaceUnreadable = False,
    jobs: Jobs = 0,
    target: Targets = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE",
        help="Also save the plan to FILE (0600, no secrets) with digests of everything it depends on; "
             "kstool apply FILE applies exactly that plan or refuses, naming what changed.")] = None,
    no_color: NoColor = False,
) -> None:
    """Show what apply would do (create / update / replace / delete), with reasons. Writes nothing (but --out),
    takes no lock."""
    from kstool.cli.commands import cmd_plan  # noqa: PLC0415
    from kstool.engine import Options  # noqa: PLC0415

    chosen = output_format.value if output_format is not None else None
    if no_secrets and (strict_permissions or replace_unreadable or out is not None or target):
        flag = ("--strict-permissions" if strict_permissions else "--replace-unreadable" if replace_unreadable
                else "--out" if out is not None else "--target")
        raise typer.BadParameter(f"--no-secrets reads no password and opens no keystore: {flag} has no meaning "
                                 "there; drop one of them", param_hint=flag)
    if json and chosen not in (None, "json"):
        raise typer.BadParameter(f"--json and --format {chosen} disagree: give one", param_hint="--format")
    options = Options(output_dir, strict_permissions, replace_unreadable, jobs=jobs, targets=tuple(target or ()))
    raise typer.Exit(cmd_plan(spec, options, as_json=json or chosen == "json", markdown=chosen == "markdown",
                              detailed_exitcode=detailed_exitcode, verbose=verbose, no_secrets=no_secrets, out=out))


@app.command()
def apply(
    spec: Annotated[Path, typer.Argument(
        help="The spec file (YAML), or a plan file saved by kstool plan --out (told apart by its content).",
        show_default=False)],
    output_dir: OutputDir = None,
    json: JsonFlag = False,
    verbose: Verbose = False,
    no_backup: Annotated[bool, typer.Option(
        "--no-backup", help="Do not keep NAME.<time>.kstool-backup copies of replaced or deleted artifacts.")] = False,
    lock_timeout: Annotated[float, typer.Option(
        "--lock-timeout", metavar="SECONDS", min=0,
        help="Wait up to SECONDS for another apply on the same output folder (default: fail at once, exit 5).")] = 0,
    strict_permissions: StrictPermissions = False,
    replace_unreadable: ReplaceUnreadable = False,
    jobs: Jobs = 0,
    target: Targets = None,
    no_color: NoColor = False,
) -> None:
    """Make the artifacts on disk match the spec, all or nothing; a second apply writes nothing.
    Given a plan file (kstool plan --out), apply exactly that plan, or refuse naming what changed."""
    from kstool.cli.commands import cmd_apply, cmd_apply_saved  # noqa: PLC0415
    from kstool.engine import Options  # noqa: PLC0415
    from kstool.engine.savedplan import is_plan_file  # noqa: PLC0415

    options = Options(output_dir, strict_permissions, replace_unreadable, not no_backup, lock_timeout, jobs,
                      targets=tuple(target or ()))
    if is_plan_file(spec):
        raise typer.Exit(cmd_apply_saved(spec, options, as_json=json, verbose=verbose))
    raise typer.Exit(cmd_apply(spec, options, as_json=json, verbose=verbose))


@app.command()
def verify(spec: SpecArg, output_dir: OutputDir = None, json: JsonFlag = False, no_color: NoColor = False,
           jobs: Jobs = 0) -> None:
    """Rebuild every artifact in memory; exit 1 naming each file that differs from the spec or kstool.lock."""
    from kstool.cli.commands import cmd_verify  # noqa: PLC0415

    raise typer.Exit(cmd_verify(spec, output_dir, as_json=json, jobs=jobs))


@app.command()
def check(
    spec: SpecArg,
    output_dir: OutputDir = None,
    horizon: Annotated[int, typer.Option(
        "--horizon", metavar="DAYS", min=0,
        help="Also flag certificates that expire within DAYS days (default 30).")] = 30,
    json: JsonFlag = False,
    prometheus: Annotated[bool, typer.Option(
        "--prometheus", help="Prometheus text format on stdout (node_exporter textfile collector).")] = False,
    no_color: NoColor = False,
) -> None:
    """The estate's health, read only: expiry, renewal due, weak protection, drift, missing artifacts.
    Exit 0 healthy, 2 attention needed, 1 error."""
    from kstool.cli.commands import cmd_check  # noqa: PLC0415

    raise typer.Exit(cmd_check(spec, output_dir, horizon_days=horizon, as_json=json, prometheus=prometheus))


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="A JKS, JCEKS or PKCS12 file (type detected from its bytes).")],
    password_env: Annotated[str | None, typer.Option("--password-env", metavar="VAR",
                                                     help="Read the store password from this variable.")] = None,
    password_file: Annotated[Path | None, typer.Option("--password-file", metavar="FILE",
                                                       help="Read the store password from this file.")] = None,
    json: JsonFlag = False,
    no_color: NoColor = False,
) -> None:
    """List a keystore's entries like keytool -list -v (public facts only)."""
    from kstool.cli.commands import cmd_inspect  # noqa: PLC0415

    raise typer.Exit(cmd_inspect(file, password_env=password_env, password_file=password_file, as_json=json))


@app.command()
def csr(
    spec: SpecArg,
    entry: Annotated[str, typer.Argument(help="The generated entry, as KEYSTORE/ALIAS.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE",
                                             help="Write the request to FILE instead of standard output.")] = None,
    output_dir: OutputDir = None,
    no_color: NoColor = False,
) -> None:
    """Print a PKCS#10 certificate signing request (PEM) for a key apply has stored, as keytool -certreq does."""
    from kstool.cli.commands import cmd_csr  # noqa: PLC0415

    raise typer.Exit(cmd_csr(spec, entry, out=out, output_dir=output_dir))


@app.command()
def adopt(
    stores: Annotated[list[Path], typer.Argument(help="Existing JKS, JCEKS or PKCS12 files (type from their bytes).",
                                                 show_default=False)],
    password_env: Annotated[list[str] | None, typer.Option(
        "--password-env", metavar="[STORE=]VAR", help="The store password's environment variable (the spec "
        "refers to it); STORE= (a file or keystore name) for one store.")] = None,
    password_file: Annotated[list[str] | None, typer.Option(
        "--password-file", metavar="[STORE=]FILE", help="The store password's file, as --password-env.")] = None,
    key_password_env: Annotated[list[str] | None, typer.Option(
        "--key-password-env", metavar="[STORE=]VAR",
        help="JKS/JCEKS: the keys' password when it differs from the store's (one per keystore).")] = None,
    key_password_file: Annotated[list[str] | None, typer.Option(
        "--key-password-file", metavar="[STORE=]FILE", help="As --key-password-env, from a file.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", metavar="SPEC", help="The spec to write (default: kstool.yaml beside the first store).")] = None,
    certs_dir: Annotated[Path | None, typer.Option(
        "--certs-dir", metavar="DIR", help="Where certificate files go (default: certs/ beside the spec).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing spec or certificate files.")] = False,
    no_color: NoColor = False,
) -> None:
    """Write a spec describing existing keystores (keys kept; no secret in it); its plan changes no key."""
    from kstool.cli.commands import cmd_adopt  # noqa: PLC0415
    from kstool.engine.adopt import PasswordOptions  # noqa: PLC0415

    options = PasswordOptions(tuple(password_env or ()), tuple(password_file or ()), tuple(key_password_env or ()),
                              tuple(key_password_file or ()))
    raise typer.Exit(cmd_adopt(stores, out=out, certs_dir=certs_dir, options=options, force=force))


@app.command()
def schema(no_color: NoColor = False) -> None:
    """Print the spec's JSON Schema (for editors: yaml-language-server $schema)."""
    from kstool.cli.commands import cmd_schema  # noqa: PLC0415

    raise typer.Exit(cmd_schema())


def run(args: list[str], session: Session) -> int:
    """Parse ``args`` and run the command; kstool's own errors propagate to ``kstool.cli.main``.

    ``session`` records the global flags (``--debug``) for the error boundary.
    """
    from kstool.cli.views.console import disable_colour, usage_error  # noqa: PLC0415

    disable_colour(False)  # each invocation starts with the defaults (the tests run many in one process)
    mistake = _single_dash_long_option(args)
    if mistake:
        usage_error(mistake)
        return ExitCode.ERROR
    try:
        # without standalone mode the parser returns the code of a typer.Exit instead of raising it
        code = app(args=args, prog_name="kstool", standalone_mode=False, obj=session)
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort:
        raise KeyboardInterrupt from None
    except SystemExit as e:
        if _completing(args):  # shell completion (--show-completion, _KSTOOL_COMPLETE=...) exits by itself
            return e.code if isinstance(e.code, int) else ExitCode.OK
        # otherwise, outside standalone mode click exits only when stdout's reader went away (EPIPE)
        raise BrokenPipeError from None
    except typer.TyperException as e:  # usage errors: a missing argument, an unknown option...
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if message:  # empty for a bare `kstool`, which has printed the help already
            usage_error(message)
        return ExitCode.ERROR
    return code if isinstance(code, int) else ExitCode.OK


def _completing(args: list[str]) -> bool:
    """Typer's completion options, or the shell asking for completions (the ``_KSTOOL_COMPLETE`` protocol)."""
    import os  # noqa: PLC0415

    return bool(os.environ.get("_KSTOOL_COMPLETE")) or any(
        a.split("=")[0] in ("--show-completion", "--install-completion") for a in args)


def _single_dash_long_option(args: list[str]) -> str | None:
    """Terraform's ``-out`` habit: click would read ``-out`` as ``-o ut`` and write into a folder named ``ut``.

    A single dash followed by a word is refused when the word names (or begins) a long option, or when its
    first letter is a short option that takes a value; clusters of one-letter flags (``-vh``) pass.
    """
    if not any(len(a) > 2 and a[0] == "-" and a[1].isalpha() for a in args):
        return None  # the usual case: nothing to look at, and no second build of the click command
    import difflib  # noqa: PLC0415

    command = typer.main.get_command(app)
    commands = getattr(command, "commands", {})
    chosen = [commands[a] for a in args if a in commands][:1] or list(commands.values())  # the command run, if any
    params = [*command.params, *(p for c in chosen for p in c.params)]
    options = [p for p in params if hasattr(p, "is_flag")]  # options, not arguments (typer vendors click)
    longs = sorted({o[2:] for p in options for o in p.opts if o.startswith("--")})
    takes_value = {o for p in options if not p.is_flag for o in [*p.opts, *p.secondary_opts]}
    flags = {o[1] for p in options if p.is_flag for o in p.opts if len(o) == 2 and o[0] == "-"}
    skip = False
    for arg in args:
        if skip or arg == "--":
            if arg == "--":
                return None
            skip = False
            continue
        if arg in takes_value:
            skip = True
            continue
        word = arg[1:]
        if not (arg.startswith("-") and len(word) > 1 and word[0].isalpha() and word.replace("-", "").isalnum()) \
                or word.startswith("-") or all(letter in flags for letter in word):
            continue
        named = [n for n in longs if n.startswith(word)] or difflib.get_close_matches(word, longs, n=1, cutoff=0.6)
        if named:
            return f"unknown option {arg!r}: long options take two dashes; did you mean --{named[0]}?"
        if f"-{word[0]}" in takes_value and word.isalpha():
            return (f"unknown option {arg!r}: a single dash takes one letter; write -{word[0]} {word[1:]} if you "
                    "mean that")
    return None
