"""People's bearer tokens: OIDC access tokens (JWT) verified against the issuer's JWKS, and a local issuer.

* ``JwtVerifier`` checks a token's signature against the issuer's published keys (JWKS, fetched and cached by
  PyJWT's ``PyJWKClient``: looked up by ``kid``, fetched again when a token names a key it does not know, at most
  once per ``refetch_seconds``, so keys can be rotated at the provider without restarting anything), then its
  issuer, audience, expiry and not-before, and that it names a subject. Every failure is a 401 naming the
  ``authorization`` field and the rule the token broke.
* ``LocalIssuer`` is the embedded default's identity provider: an Ed25519 signing key kept in a directory
  (created on first use, mode 0600) and a ``jwks.json`` beside it that publishes the current public key and
  the previous ones (rotation). ``jembatan token`` and ``jembatan.stack`` issue short-lived tokens with it, and
  the hub verifies them exactly as it verifies a real provider's (``file://`` JWKS URL).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.errors import Unauthorized

ALGORITHMS = ("EdDSA", "RS256", "ES256")  # never "none", never HMAC (a public key must not verify as a secret)
KEEP_RETIRED = 2  # retired public keys still published after a rotation (tokens signed with them stay valid)


def _unauthorized(rule: str, message: str) -> Unauthorized:
    return Unauthorized.field("authorization", rule, message)  # type: ignore[return-value]


@dataclass(frozen=True)
class Claims:
    """What the hub keeps of a verified token."""

    subject: str
    name: str
    roles: frozenset[str]
    issuer: str
    token_id: str | None


class _Jwks(jwt.PyJWKClient):
    """PyJWKClient over https (a provider), or over a local JWKS file (``file://``: the local issuer's, which
    PyJWT's client refuses to open itself). Same cache, same refetch on an unknown ``kid``."""

    def __init__(self, uri: str, **kwargs: Any) -> None:
        parsed = urllib.parse.urlparse(uri)
        self.path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else None
        super().__init__("https://localhost/jwks.json" if self.path else uri, **kwargs)

    def fetch_data(self) -> Any:
        if self.path is None:
            return super().fetch_data()
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise jwt.PyJWKClientConnectionError(f"cannot read the JWKS file {self.path.name}") from exc
        self._last_successful_fetch = time.monotonic()
        return data


class JwtVerifier:
    """Verifies people's bearer tokens for one issuer and audience (thread-safe)."""

    def __init__(self, *, issuer: str, audience: str, jwks_url: str, roles_claim: str = "roles",
                 refetch_seconds: float = 30.0, leeway: float = 30.0,
                 algorithms: Sequence[str] = ALGORITHMS) -> None:
        self.issuer, self.audience, self.roles_claim, self.leeway = issuer, audience, roles_claim, leeway
        self.algorithms = [a for a in algorithms if a in ALGORITHMS]
        self.jwks = _Jwks(jwks_url, cache_jwk_set=True, lifespan=300, timeout=5,
                                    cooldown_duration=refetch_seconds)

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise _unauthorized("malformed", "the bearer token is not a JWT") from exc
        if header.get("alg") not in self.algorithms:
            raise _unauthorized("algorithm", f"tokens signed with {header.get('alg')!r} are not accepted")
        if not isinstance(header.get("kid"), str):
            raise _unauthorized("unknown_key", "the token names no signing key (kid)")
        try:
            key = self.jwks.get_signing_key(header["kid"])
        except jwt.PyJWKClientConnectionError as exc:
            raise _unauthorized("jwks_unavailable", "the identity provider's keys cannot be read now") from exc
        except jwt.PyJWKClientError as exc:
            raise _unauthorized("unknown_key", "the token is signed with a key the issuer does not publish") from exc
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=[header["alg"]], audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError as exc:
            raise _unauthorized("expired", "the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise _unauthorized("audience", f"the token is not meant for this service ({self.audience})") from exc
        except jwt.InvalidIssuerError as exc:
            raise _unauthorized("issuer", "the token comes from an issuer this service does not trust") from exc
        except jwt.ImmatureSignatureError as exc:
            raise _unauthorized("not_yet_valid", "the token is not valid yet") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise _unauthorized("claims", f"the token lacks the {exc.claim!r} claim") from exc
        except jwt.InvalidSignatureError as exc:
            raise _unauthorized("signature", "the token's signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise _unauthorized("invalid", "the token is not valid") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise _unauthorized("claims", "the token's subject is empty")
        name = claims.get("name") or claims.get("preferred_username") or subject
        return Claims(subject=subject, name=str(name)[:200], roles=frozenset(self._roles(claims)),
                      issuer=str(claims["iss"]), token_id=claims.get("jti"))

    def _roles(self, claims: dict[str, Any]) -> list[str]:
        """The roles claim, by a dotted path (``roles``, Keycloak's ``realm_access.roles``); a string or a list."""
        value: Any = claims
        for part in self.roles_claim.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
        return []


# ---- the local issuer (embedded default) ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}
    kid = _b64(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest())
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}  # kid: the RFC 7638 thumbprint


class LocalIssuer:
    """An Ed25519 signing key in ``directory`` (``signing-key.pem``, 0600) and its ``jwks.json``."""

    KEY, JWKS = "signing-key.pem", "jwks.json"
    ISSUER, AUDIENCE = "jembatan-local", "jembatan-hub"

    def __init__(self, directory: Path, issuer: str = ISSUER, audience: str = AUDIENCE) -> None:
        self.directory, self.issuer, self.audience = Path(directory), issuer, audience

    @property
    def jwks_path(self) -> Path:
        return self.directory / self.JWKS

    @property
    def jwks_url(self) -> str:
        return self.jwks_path.resolve().as_uri()

    def _key(self) -> Ed25519PrivateKey:
        path = self.directory / self.KEY
        if not path.exists():
            return self.rotate()
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key

    def ensure(self) -> str:
        """Create the key (and its JWKS) on first use; returns the JWKS URL (``file://``)."""
        self._key()
        return self.jwks_url

    def rotate(self) -> Ed25519PrivateKey:
        """A new signing key; the previous public keys stay published (up to ``KEEP_RETIRED``) so the tokens
        they signed remain valid until they expire."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        tmp = self.directory / f".{self.KEY}.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        old = json.loads(self.jwks_path.read_text())["keys"] if self.jwks_path.exists() else []
        jwks = {"keys": [_public_jwk(key), *old[:KEEP_RETIRED]]}
        tmp_jwks = self.directory / f".{self.JWKS}.{uuid.uuid4().hex}"
        tmp_jwks.write_text(json.dumps(jwks, indent=1))
        os.replace(tmp_jwks, self.jwks_path)  # publish the new public key before signing with it
        os.replace(tmp, self.directory / self.KEY)
        return key

    def issue(self, user: str, roles: Sequence[str], ttl_seconds: int = 3600, name: str | None = None) -> str:
        """A token for ``user`` carrying ``roles``, valid ``ttl_seconds`` (1 h by default)."""
        key = self._key()
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": user, "name": name or user,
                  "roles": list(roles), "iat": now, "nbf": now, "exp": now + ttl_seconds, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": _public_jwk(key)["kid"]})
