"""Figure: the machine's raw Ed25519 verify rate, the yardstick of every verifying figure."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bench.context import Bench
from bench.report import Figure
from bench.statements import signed_statements
from bench.timing import median_rate


def ed25519_verify(bench: Bench) -> Figure:
    """Ed25519 signatures verified per second on one core by ``cryptography`` alone.

    Each call is ``Ed25519PublicKey.verify`` over a statement text (~320
    bytes, what a note signature covers) with the public-key objects made
    beforehand: no parsing, no key decoding, no Python around it but a loop.
    Verifying a log checks one signature per statement, so this rate bounds
    any full verification from above, and later figures (a full verify of
    the log, imports) are read as a fraction of it. Python runs the loop on
    one thread and OpenSSL does not spread one verify across cores, so this
    is a one-core rate.
    """
    statements = signed_statements(bench)
    keys = [Ed25519PublicKey.from_public_bytes(signer.verifier_key().public) for signer in statements.signers]
    triples = []
    for number, text in enumerate(statements.texts[:256]):
        signer = statements.signers[number % len(statements.signers)]
        message = text.encode("utf-8")
        triples.append((keys[number % len(keys)], signer.sign(message), message))

    def verify_all() -> int:
        for key, signature, message in triples:
            key.verify(signature, message)
        return len(triples)

    verify_all()  # warm-up: first calls pay for lazy set-up in OpenSSL
    rate = median_rate(verify_all, bench.sizes.verify_rounds)
    return Figure(
        name="ed25519.verify",
        value=rate,
        unit="verifies/s",
        about="cryptography Ed25519PublicKey.verify, one core, statement-sized messages",
        parameters={
            "messages": len(triples),
            "message_bytes_mean": round(sum(len(message) for _, _, message in triples) / len(triples)),
            "rounds": bench.sizes.verify_rounds,
        },
    )
