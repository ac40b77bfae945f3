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
from typing import NoReturn

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
    return Resolved(Secret(_clean(value, ref)), ref)


def _from_file(ref: FileRef) -> Resolved:
    path = ref.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if ref.generate:
            return Resolved(Secret(generate_password()), ref, generated=True)
        raise SpecError(ref.location, f"password file {ref.shown} does not exist; create it (mode 0600) or add "
                                      "generate: true to let apply create one") from None
    except IsADirectoryError:
        raise SpecError(ref.location, f"password file {ref.shown} is a directory; name a file") from None
    except OSError as e:
        raise SpecError(ref.location, f"cannot read password file {ref.shown}: {e.strerror}") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):  # Linux lets O_RDONLY open a directory
        os.close(fd)
        raise SpecError(ref.location, f"password file {ref.shown} is a directory; name a file")
    with os.fdopen(fd, "rb") as f:
        raw = f.read(MAX_PASSWORD_FILE + 1)
    if len(raw) > MAX_PASSWORD_FILE:
        raise SpecError(ref.location, f"password file {ref.shown} is larger than {MAX_PASSWORD_FILE} bytes; "
                                      "is this the right file?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(ref.location, f"password file {ref.shown} is not UTF-8 text") from None
    text = text.removesuffix("\r\n") if text.endswith("\r\n") else text.removesuffix("\n")
    if text == "":
        raise SpecError(ref.location, f"password file {ref.shown} is empty; put the password in it "
                                      "(or delete it and use generate: true)")
    warnings: tuple[str, ...] = ()
    if info.st_mode & 0o077:
        warnings = (f"{ref.location}: password file {ref.shown} is readable by group or others "
                    f"(mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {ref.shown}",)
    return Resolved(Secret(_clean(text, ref)), ref, warnings=warnings)


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

