"""The ledger's Ed25519 signing key: a PEM file outside the database (``HUB_LEDGER_KEY_FILE``).

Unset, the key lives next to the embedded SQLite database (``<data dir>/hub_ledger_ed25519.pem``) and is made on
first use, readable by its owner only (0600). A path that is set must exist: a hub on PostgreSQL with workers on
several machines must give every process the same key, so none of them makes its own.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import make_url

from shared import ledger_hash
from shared.contracts.ledger import LedgerPublicKey
from shared.db import normalise_url
from shared.errors import ApiError

DEFAULT_NAME = "hub_ledger_ed25519.pem"


class LedgerKeyMissing(ApiError):
    status_code = 503


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    raw_public: bytes
    key_id: str

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()

    @property
    def public(self) -> LedgerPublicKey:
        return LedgerPublicKey(key_id=self.key_id, public_key=self.raw_public.hex())


def default_path(database_url: str) -> Path:
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / DEFAULT_NAME
    return Path("data").resolve() / DEFAULT_NAME


def generate(path: Path) -> None:
    """Write a new key to ``path`` atomically (0600); a concurrent process that got there first wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # never replaces a key another process made
    finally:
        tmp.unlink(missing_ok=True)


@lru_cache(maxsize=8)
def _load(path: Path) -> Signer:
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise LedgerKeyMissing(f"{path.name} is not an Ed25519 private key")
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return Signer(private, raw, ledger_hash.key_id(raw))


def signer(key_file: Path | None, database_url: str) -> Signer:
    """The process's signer; the embedded default's key is made on first use."""
    path = key_file if key_file is not None else default_path(database_url)
    if not path.exists():
        if key_file is not None:
            raise LedgerKeyMissing(f"HUB_LEDGER_KEY_FILE names a file that does not exist: {path}")
        generate(path)
    return _load(path.resolve())


def public_key(raw_hex: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw_hex))
