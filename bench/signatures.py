"""Figures: the machine's raw Ed25519 verify rates, the yardsticks of every verifying figure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench.context import Bench
from bench.report import Figure, Outcome, Skipped
from bench.statements import signed_statements
from bench.timing import median_rate, paired_rates

MESSAGES = 256
SODIUM_MISSING = "PyNaCl is not installed (pip install 'accord[sodium]')"


@dataclass(frozen=True)
class RawRates:
    """Ed25519 verifies per second on one core, by each implementation, over the same messages."""

    openssl: float
    libsodium: float | None
    """None when PyNaCl is not installed."""
    parameters: dict[str, int | float | str]


def raw_rates(bench: Bench) -> RawRates:
    """The run's raw rates, measured once: OpenSSL and libsodium alternately, round by round.

    Each call is one verification over a statement text (~320 bytes, what a
    note signature covers) with everything made beforehand: for OpenSSL the
    ``Ed25519PublicKey`` objects (``cryptography``), for libsodium the
    signed message ``signature || text`` that ``crypto_sign_open`` takes.
    No parsing, no key decoding, no Python around it but a loop. Python runs
    the loop on one thread and neither library spreads one verification
    across cores, so these are one-core rates.
    """

    def measure() -> RawRates:
        statements = signed_statements(bench)
        keys = [Ed25519PublicKey.from_public_bytes(signer.verifier_key().public) for signer in statements.signers]
        triples = []
        for number, text in enumerate(statements.texts[:MESSAGES]):
            signer = statements.signers[number % len(statements.signers)]
            message = text.encode("utf-8")
            triples.append((keys[number % len(keys)], signer.verifier_key().public, signer.sign(message), message))

        def verify_openssl() -> int:
            for key, _, signature, message in triples:
                key.verify(signature, message)
            return len(triples)

        sodium = _sodium_verifier(triples)
        verify_openssl()  # warm-up: first calls pay for lazy set-up in the libraries
        rounds = bench.sizes.verify_rounds
        if sodium is None:
            openssl, libsodium = median_rate(verify_openssl, rounds), None
        else:
            sodium()
            openssl, libsodium = paired_rates(verify_openssl, sodium, rounds)
        parameters: dict[str, int | float | str] = {
            "messages": len(triples),
            "message_bytes_mean": round(sum(len(message) for *_, message in triples) / len(triples)),
            "rounds": rounds,
        }
        return RawRates(openssl, libsodium, parameters)

    return bench.fixture("raw-verify-rates", measure)


def _sodium_verifier(triples: list[tuple[Ed25519PublicKey, bytes, bytes, bytes]]) -> Callable[[], int] | None:
    try:
        from nacl.bindings import crypto_sign_open
    except ImportError:
        return None
    signed = [(public, signature + message) for _, public, signature, message in triples]

    def verify_libsodium() -> int:
        for public, signed_message in signed:
            crypto_sign_open(signed_message, public)
        return len(signed)

    return verify_libsodium


def ed25519_verify(bench: Bench) -> Figure:
    """Ed25519 signatures verified per second on one core by ``cryptography`` (OpenSSL) alone.

    Verifying a log checks one signature per statement, so this rate bounds
    a one-core verification from above, and the verifying figures (a full
    ``accord verify``, imports) are read as multiples of it. Measured in
    turns with ``ed25519.verify.libsodium`` (see :func:`raw_rates`).
    """
    rates = raw_rates(bench)
    return Figure(
        name="ed25519.verify",
        value=rates.openssl,
        unit="verifies/s",
        about="cryptography Ed25519PublicKey.verify, one core, statement-sized messages",
        parameters=rates.parameters,
    )


def ed25519_verify_libsodium(bench: Bench) -> Outcome:
    """Ed25519 signatures verified per second on one core by libsodium (PyNaCl ``crypto_sign_open``), against OpenSSL.

    The yardstick of ``accord verify --verifier libsodium``; the ratio says
    how much faster the optional verifier is on this machine, the same
    messages and keys, measured in turns with ``ed25519.verify``.
    """
    rates = raw_rates(bench)
    if rates.libsodium is None:
        return Skipped("ed25519.verify.libsodium", SODIUM_MISSING)
    return Figure(
        name="ed25519.verify.libsodium",
        value=rates.libsodium,
        unit="verifies/s",
        about="PyNaCl crypto_sign_open (libsodium), one core, statement-sized messages",
        baseline=rates.openssl,
        baseline_about="ed25519.verify: cryptography (OpenSSL), same messages, in turns",
        parameters=rates.parameters,
    )
