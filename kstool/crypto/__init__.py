"""cryptography-backed and spec-free: ``certs`` (generated keys, keytool-shaped certificates, key parameters),
``certparse`` (certificates as Java reads them: the one parser the others call), ``dn``, ``san``, ``policy`` (weak
and expired material), ``imports`` (PEM/DER files, keys, chains) and ``adapter`` (cryptography's non-public API).
``dn`` and ``san`` check without importing cryptography, so ``kstool validate`` never pays for it."""

from typing import Literal

KeyAlgorithm = Literal["RSA", "EC", "Ed25519"]  # the key types kstool generates (keytool's -keyalg)
