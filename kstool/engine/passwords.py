"""Password references → Secret values.

A ``Secret`` never shows its value in ``repr``/``str``/f-strings, cannot be pickled, and compares in
constant time. Randomness for generated passwords lives here and in key generation only.
"""

from __future__ import annotations

import hmac
import os
import secrets as _random
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from kstool.errors import KstoolError
from kstool.spec.model import EmptyRef, EnvRef, FileRef, PasswordRef, SourcePasswordRef
from kstool.spec.yamlload import SpecError

MIN_STORE_PASSWORD = 6  # keytool refuses shorter store passwords
MAX_PASSWORD_FILE = 4096


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode("utf-8", "surrogatepass"),
                                   other._value.encode("utf-8", "surrogatepass"))

    def __hash__(self) -> int:
        raise TypeError("Secret is not hashable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A resolved password and where it came from; ``generated`` means apply must create its file."""

    secret: Secret
    ref: SourcePasswordRef
    generated: bool = False
    warnings: tuple[str, ...] = field(default=())


def generate_password() -> str:
    """A strong random password: 32 URL-safe ASCII characters (192 bits), valid for every store type."""
    return _random.token_urlsafe(24)


def resolve(ref: SourcePasswordRef, env: Mapping[str, str]) -> Resolved:
    if isinstance(ref, EmptyRef):  # only source keystores take it (the spec's schema says where)
        return Resolved(Secret(""), ref)
    if isinstance(ref, EnvRef):
        return _from_env(ref, env)
    return _from_file(ref)


def _from_env(ref: EnvRef, env: Mapping[str, str]) -> Resolved:
    if ref.name not in env:
        raise SpecError(ref.location, f"environment variable {ref.name} is not set; export it with the password "
                                      "(or use {file: PATH})")
    value = env[ref.name]
    if value == "":
        raise SpecError(ref.location, f"environment variable {ref.name} is set but empty; give it the password")
    try:
        check_env_text(ref.name, value)
    except KstoolError as e:
        raise SpecError(ref.location, str(e)) from None
    return Resolved(Secret(_clean(value, ref)), ref)


def check_env_text(name: str, value: str) -> None:
    """Python decodes the environment with surrogateescape: bytes that are not UTF-8 become lone surrogates,
    which no keystore can encode. Refuse them when the password is read (at plan), not when it is used."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise KstoolError(f"environment variable {name} is not valid UTF-8 text; set it to the password in "
                          "UTF-8 (check the shell's or the secret store's encoding)") from None


def _from_file(ref: FileRef) -> Resolved:
    try:
        found = read_password_file(ref.path, ref.shown)
    except KstoolError as e:
        raise SpecError(ref.location, str(e)) from None
    if found is None:
        if ref.generate:
            return Resolved(Secret(generate_password()), ref, generated=True)
        raise SpecError(ref.location, f"password file {ref.shown} does not exist; create it (mode 0600) or add "
                                      "generate: true to let apply create one")
    text, mode = found
    warnings: tuple[str, ...] = ()
    if mode & 0o077:
        warnings = (f"{ref.location}: password file {ref.shown} is readable by group or others "
                    f"(mode {mode:04o}); run: chmod 600 {ref.shown}",)
    return Resolved(Secret(_clean(text, ref)), ref, warnings=warnings)


_BOM = b"\xef\xbb\xbf"


def read_password_file(path: Path, shown: str) -> tuple[str, int] | None:
    """The password in a file (less one trailing ``\\n`` or ``\\r\\n``) and the file's permission bits;
    None when there is no file. KstoolError, naming ``shown``, for anything else that is not a password file.

    Symbolic links are followed (Kubernetes Secret volumes and Vault Agent deliver ``key -> ..data/key``),
    but what they lead to must be a regular file of at most MAX_PASSWORD_FILE bytes: the open is non-blocking
    (a FIFO is an error, not a hang) and the size is checked before reading (``/dev/zero`` is an error, not
    an endless read). A UTF-8 byte-order mark is refused rather than stripped: other programs reading the same
    file (keytool ``-storepass:file``, a server's config) would take it as part of the password.
    """
    try:
        # stat first: a device is never opened (opening one can have effects); fstat below checks what was opened
        _check_kind(os.stat(path).st_mode, shown)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(path):
            raise KstoolError(f"password file {shown} is a symbolic link to a file that does not exist; fix the "
                              "link (kstool never creates a password file through a link)") from None
        return None
    except OSError as e:
        raise KstoolError(f"cannot read password file {shown}: {e.strerror}") from None
    try:
        info = os.fstat(fd)
        _check_kind(info.st_mode, shown)
        if info.st_size > MAX_PASSWORD_FILE:
            raise KstoolError(_too_large(shown))
        raw = b""
        while len(raw) <= MAX_PASSWORD_FILE and (chunk := os.read(fd, MAX_PASSWORD_FILE + 1 - len(raw))):
            raw += chunk
    finally:
        os.close(fd)
    if len(raw) > MAX_PASSWORD_FILE:  # it grew after fstat
        raise KstoolError(_too_large(shown))
    if raw.startswith(_BOM):
        raise KstoolError(f"password file {shown} starts with a UTF-8 byte-order mark (an editor added it); "
                          "kstool will not guess whether it belongs to the password: save the file without "
                          "it (UTF-8 without BOM)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KstoolError(f"password file {shown} is not UTF-8 text") from None
    text = text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")
    if text == "":
        raise KstoolError(f"password file {shown} is empty; put the password in it "
                          "(or delete it and use generate: true)")
    return text, stat.S_IMODE(info.st_mode)


def _check_kind(mode: int, shown: str) -> None:
    if stat.S_ISDIR(mode):
        raise KstoolError(f"password file {shown} is a directory; name a file")
    if not stat.S_ISREG(mode):
        raise KstoolError(f"password file {shown} is not a regular file (a pipe, socket or device); "
                          "name a file that holds the password")


def _too_large(shown: str) -> str:
    return f"password file {shown} is larger than {MAX_PASSWORD_FILE} bytes; is this the right file?"


def _clean(value: str, ref: PasswordRef) -> str:
    where = ref.describe()
    if any(c in value for c in "\r\n\0"):
        raise SpecError(ref.location, f"the password from {where} contains a line break or NUL character "
                                      "(only one trailing newline is removed); fix the value")
    return value


def check_store_password(resolved: Resolved, store_type: str, *, what: str = "store password") -> None:
    """keytool's and Java's rules for passwords of a store of ``store_type``."""
    value = resolved.secret.reveal()
    where = resolved.ref.describe()
    if len(value) < MIN_STORE_PASSWORD:
        raise SpecError(resolved.ref.location, f"the {what} from {where} is shorter than {MIN_STORE_PASSWORD} "
                                               "characters; keytool refuses it: use a longer password")
    if store_type in ("pkcs12", "jceks") and not value.isascii():
        raise SpecError(resolved.ref.location, f"the {what} from {where} has non-ASCII characters; Java 17 "
                                               f"refuses them for {store_type.upper()}: use ASCII or type: jks")
    if any(ord(c) > 0xFFFF for c in value):
        raise SpecError(resolved.ref.location, f"the {what} from {where} has characters outside the Basic "
                                               "Multilingual Plane; Java keystores cannot use them")

