"""Ed25519 verification backends: one function type, ``holds(public, message, signature) -> bool``.

libsodium through PyNaCl (the default, the writer's), about twice as fast on
common x86-64 machines, or OpenSSL through ``cryptography`` (the fallback and
reference). Both take the same signatures: ``ledger.strict_ed25519`` is
checked first. A backend never raises for a bad signature; it answers False.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from ledger.errors import MalformedError
from ledger.strict_ed25519 import acceptable

Holds = Callable[[bytes, bytes, bytes], bool]
"""``holds(public, message, signature)``: whether ``signature`` is ``public``'s Ed25519 signature of ``message``."""


@lru_cache(maxsize=4096)
def _ed25519(public: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public)


def openssl_holds(public: bytes, message: bytes, signature: bytes) -> bool:
    if not acceptable(public, signature):
        return False
    try:
        _ed25519(public).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def libsodium_holds(public: bytes, message: bytes, signature: bytes) -> bool:
    if not acceptable(public, signature):
        return False
    try:
        crypto_sign_open(signature + message, public)
    except (BadSignatureError, ValueError):
        return False
    return True


VERIFIERS: dict[str, Holds] = {"libsodium": libsodium_holds, "openssl": openssl_holds}
"""The backends by name, as ``--verifier`` takes them."""


def verifier(name: str = "libsodium") -> Holds:
    """The named backend; MalformedError if it is unknown or not installed."""
    if name not in VERIFIERS:
        raise MalformedError("verifier", f"got {name!r}, want one of {', '.join(VERIFIERS)}")
    if name == "libsodium":
        try:
            import nacl.bindings  # noqa: F401
        except ImportError:
            raise MalformedError("verifier", "libsodium needs PyNaCl: pip install 'accord[sodium]'") from None
    return VERIFIERS[name]


def holds(public: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public``'s Ed25519 signature of ``message``, by the default verifier."""
    return libsodium_holds(public, message, signature)
