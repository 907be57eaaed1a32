"""Text and base64 as every Accord format reads them: UTF-8, canonical RFC 4648 base64."""

from __future__ import annotations

import base64
import binascii

from ledger.errors import MalformedError


def as_text(data: str | bytes, component: str) -> str:
    """``data`` as text: bytes must be UTF-8."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedError(component, f"not UTF-8: invalid byte at offset {error.start}") from None


def decode_base64(text: str, component: str, what: str) -> bytes:
    """Decode RFC 4648 standard base64, refusing anything but its canonical encoding.

    Canonical only, so that every value has one spelling: parsed formats
    re-serialize to the exact bytes they came from. Errors never echo
    ``text``, which may be secret.
    """
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(component, f"{what}: got invalid base64, want RFC 4648 standard base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedError(component, f"{what}: got non-canonical base64 (padding bits set), want canonical")
    return raw


def encode_base64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")
