"""The pipeline, one module per stage, in the order ``prepare`` runs them.

Nothing here prints: the CLI (``kstool.cli``) calls the engine and hands what it returns to a view. Modules are
imported lazily (inside the functions) so that ``kstool validate`` never pays for the cryptography stack.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from kstool.errors import KstoolError

if TYPE_CHECKING:
    from kstool.engine.clock import Clock
    from kstool.engine.inputs import Inputs
    from kstool.engine.lockfile import LockedStore
    from kstool.engine.observe import Observed
    from kstool.engine.plan import Plan
    from kstool.spec.model import Spec


@dataclass(frozen=True, slots=True)
class Context:
    spec: Spec
    inputs: Inputs
    observed: Observed
    plan: Plan
    root: Path


@dataclass(frozen=True, slots=True)
class Options:
    """What plan and apply share; defaults are the safe choices."""

    output_dir: Path | None = None
    strict_permissions: bool = False  # a password file readable by group/others is an error, not a warning
    replace_unreadable: bool = False  # rebuild artifacts that cannot be opened (the old file is backed up)
    backups: bool = True
    lock_timeout: float = 0.0
    jobs: int = 0  # processes for RSA key generation and for encoding/decoding many stores; 0 = one per core
    open_all: frozenset[str] = frozenset()  # keystores opened in full, past the fast path (kstool check)
    targets: tuple[str, ...] = ()  # --target KEYSTORE[/ALIAS]: the run is limited to these (engine/targets.py)

    @property
    def effective_jobs(self) -> int:
        return self.jobs or os.cpu_count() or 1


def output_root(spec_path: Path, output_dir: Path | None) -> Path:
    """The folder artifacts are written to and read from: ``--output-dir``, else the spec's folder."""
    if output_dir is None:
        return spec_path.parent
    # the output folder, or the first of its parents that exists, must be a folder
    for folder in (output_dir, *output_dir.parents):
        try:
            is_dir = folder.is_dir()
            exists = is_dir or folder.exists()
        except OSError as e:
            raise KstoolError(f"--output-dir {output_dir}: cannot look at {folder}: {e.strerror}") from None
        if not exists:
            continue
        if not is_dir:
            below = "is not a directory" if folder == output_dir else f"is below {folder}, which is not a directory"
            raise KstoolError(f"--output-dir {output_dir} {below}: choose a folder")
        break
    return output_dir


def writable_root(root: Path) -> None:
    """Create the output folder (0700) if needed and make sure apply can write in it, before taking the lock."""
    from kstool.engine.fsutil import make_private_dirs  # noqa: PLC0415

    try:
        make_private_dirs(root)  # parents too: 0700 whatever the umask
    except OSError as e:
        raise KstoolError(f"cannot create the output folder {root}: {e.strerror}; choose a folder you can write "
                          "(--output-dir)") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise KstoolError(f"the output folder {root} is not writable; fix its permissions or choose another "
                          "folder (--output-dir)")


def _check_destroy(plan: Plan) -> None:
    """prevent_destroy: true turns a plan that destroys one of the keystore's private keys into an error."""
    protected = {k.name for k in plan.keystores if k.prevent_destroy}
    hits = [d for d in plan.destroyed_keys() if d.keystore in protected]
    if hits:
        from kstool.engine.plan import Action  # noqa: PLC0415

        what = "; ".join(f"{d.keystore}/{d.alias} ({d.action.value}: {d.reason})" for d in hits)
        gone = [d.keystore for d in hits if d.action is Action.DELETE and d.reason == "keystore not in spec"]
        fix = ("put the keystore back in the spec, or apply once with it and prevent_destroy: false" if gone
               else "change the spec so its keys are kept, or set prevent_destroy: false to allow it")
        raise KstoolError(f"this plan destroys private keys of keystore(s) with prevent_destroy: true: {what}; "
                          f"{fix}")


def _check_issued_in_time(spec: Spec, plan: Plan, clock: Clock) -> None:
    """A certificate apply would issue already expired, or inside its own renewal window, at the real time: the
    clock is an old SOURCE_DATE_EPOCH (each apply would renew it again)."""
    from datetime import timedelta  # noqa: PLC0415

    from kstool.engine.plan import NewKey, Reissue  # noqa: PLC0415

    if not clock.from_epoch:
        return
    for k in plan.keystores:
        ks = spec.keystore(k.name)
        for e in k.entries:
            entry = ks.entry(e.alias) if ks is not None else None
            if entry is None or not isinstance(e.build, NewKey | Reissue):
                continue
            lifetime = timedelta(days=e.build.generate.validity_days)
            not_after = clock.now + lifetime
            window = entry.renew_before.window(lifetime)
            if not_after - window <= clock.wall:
                state = "already expired" if not_after <= clock.wall else "inside its own renewal window"
                raise KstoolError(f"{k.name}/{e.alias}: the certificate apply would issue at {clock.shown} is valid "
                                  f"until {not_after:%Y-%m-%d}, {state} (now {clock.wall:%Y-%m-%d}); set "
                                  "SOURCE_DATE_EPOCH to a recent time (e.g. the last commit's: git log -1 "
                                  "--format=%ct) or unset it")


def _describe_ahead(spec: Spec, inputs: Inputs, observed: Observed, jobs: int) -> None:
    """The facts the plan will show of each certificate it compares (those of stores kstool.lock does not vouch for:
    new, changed, or not recorded), computed on all cores first (``facts.describe_all``)."""
    from kstool.engine.facts import describe_all  # noqa: PLC0415
    from kstool.formats.entries import KeyEntry, leaf_der  # noqa: PLC0415

    ders: list[bytes] = []
    for ks in spec.keystores:
        store = observed.stores.get(ks.name)
        if store is not None and store.locked is not None:
            continue  # the plan takes these facts from the lock
        entries = [*inputs.keystores[ks.name].material.values(), *(store.entries if store is not None else ())]
        ders += [leaf_der(e) for e in entries
                 if not isinstance(e, KeyEntry) or e.chain_der]
    describe_all(ders, jobs)


def prepare(spec_path: Path, options: Options, *, warn: Callable[[str], None], root: Path | None = None,  # noqa: PLR0915
            note: Callable[[str], None] | None = None) -> Context:
    """Everything but writing, stage by stage:

    1. ``kstool.spec``: the YAML with locations → JSON Schema → the frozen ``Spec`` (and its output paths);
    2. ``passwords`` + ``inputs``: the passwords and every input file the spec names, read once (``expand`` first
       turns trusted bundles, folders and source stores into one ordinary trusted entry per certificate);
    3. ``lockfile`` (+ ``digests``): ``kstool.lock``, the record of the last apply, and whose artifacts are whose;
    4. ``observe`` (with ``facts``): the artifacts on disk, trusted as far as the lock allows (``observe.Trust``);
    5. ``planner`` → ``plan``: the pure comparison of spec and disk; stores the fast path left partly open are
       opened in full and planned again; ``prevent_destroy`` is enforced.

    With ``options.targets`` (``--target``) the spec is cut down to the targeted keystores and those they need
    (``targets``) right after loading, and the lock records of the others are kept aside, verbatim.

    Then ``execute`` (under ``writer_lock``) builds the artifacts and ``commit`` swaps them in, all or nothing;
    ``verify`` re-runs stages 1-5 trusting nothing. ``root`` is ``output_root(spec_path, options.output_dir)``
    (computed here, after the spec is loaded, unless apply already did, before taking the writer lock);
    ``warn`` receives the inputs' warnings (a readable password file...) unless ``--strict-permissions``;
    ``note`` (default: ``warn``) what expanding bundles, folders and source stores noted (duplicates folded,
    expired or weak certificates skipped), never an error.
    """
    from kstool.engine.clock import read_clock  # noqa: PLC0415
    from kstool.engine.inputs import load_inputs  # noqa: PLC0415
    from kstool.engine.lockfile import read_lock, spec_owner  # noqa: PLC0415
    from kstool.engine.observe import Trust, observe  # noqa: PLC0415
    from kstool.engine.plan import Action  # noqa: PLC0415
    from kstool.engine.planner import compute_plan  # noqa: PLC0415
    from kstool.spec.model import check_outputs, load_spec  # noqa: PLC0415

    spec = load_spec(spec_path)
    selection = None
    if options.targets:
        from kstool.engine.targets import restrict, select  # noqa: PLC0415

        if spec.exports:
            raise KstoolError(f"{spec_path}: --target is not supported yet for a spec with exports: "
                              "plan and apply it without --target")
        selection = select(spec, options.targets)
        spec = restrict(spec, selection)
    root = output_root(spec_path, options.output_dir) if root is None else root
    if root.resolve() != spec.base_dir:
        check_outputs(spec, root.resolve())  # load_spec checked them against the spec's folder
    clock = read_clock()
    # bundles, folders, source stores: one trusted entry each
    spec, inputs = load_inputs(spec, os.environ, jobs=options.effective_jobs)
    for message in inputs.notes:  # bundles, folders, source stores: duplicates folded, certificates skipped
        (note or warn)(message)
    from kstool.engine.compat import check_inputs  # noqa: PLC0415

    check_inputs(spec, inputs)  # compatible_with: what only the inputs tell
    for message in inputs.warnings:
        if options.strict_permissions:
            raise KstoolError(message.replace("is readable", "must not be readable", 1) + " (--strict-permissions)")
        warn(message)
    lock = read_lock(root)
    owner = spec_owner(spec_path, root)
    # exports are cut from their source stores' keys: those stores are opened in full, past the fast path
    sources = frozenset(name for x in spec.exports for name in x.sources)
    kept: dict[str, LockedStore] = {}
    if selection is not None:
        from kstool.engine.targets import split_lock  # noqa: PLC0415

        lock, kept = split_lock(lock, spec, owner)
    observed = observe(spec, inputs, root, lock, tolerate_unreadable=options.replace_unreadable,
                       jobs=options.effective_jobs, owner=owner, full=options.open_all | sources)
    observed = replace(observed, kept=kept)
    _describe_ahead(spec, inputs, observed, options.effective_jobs)
    plan = compute_plan(spec, inputs, observed, output_root=str(root), now=clock.now)
    # the fast path leaves keys encrypted; a store that will be rewritten is opened in full, then re-planned
    from kstool.engine.planner import signing_stores  # noqa: PLC0415

    changed = frozenset(name for name in {c.name for c in plan.keystores if c.action is not Action.NOOP}
                        | signing_stores(spec, plan)  # a CA signs with its key: its store is opened in full
                        if name in observed.stores and observed.stores[name].trust >= Trust.PARTIAL)
    if changed:
        observed = observe(spec, inputs, root, lock, tolerate_unreadable=options.replace_unreadable,
                           jobs=options.effective_jobs, full=changed | options.open_all | sources, owner=owner)
        observed = replace(observed, kept=kept)
        plan = compute_plan(spec, inputs, observed, output_root=str(root), now=clock.now)
    if selection is not None:
        from kstool.engine.targets import check_alias_targets  # noqa: PLC0415

        plan = replace(plan, targets=selection.targets, included=selection.keystores,
                       dependents=selection.dependents)
        check_alias_targets(plan, selection)
    _check_destroy(plan)
    _check_issued_in_time(spec, plan, clock)
    for message in plan.warnings:
        warn(message)
    if not plan.has_changes:
        from kstool.engine.execute import lock_is_current  # noqa: PLC0415

        plan = replace(plan, lock_update=not lock_is_current(root, spec, inputs, plan, observed))
    return Context(spec, inputs, observed, plan, root)
