"""Which Ed25519 signatures Accord accepts, whatever library verifies them.

RFC 8032 leaves room (the ZIP-215 question), and the two backends use it
differently. libsodium refuses a public key or an R of small order (the
eight points of order 1, 2, 4 and 8, in any encoding), a public key whose
y is not reduced mod p, and an S not reduced mod L. OpenSSL refuses the
last only: under a small-order public key it accepts signatures nobody
made (R = the identity, S = 0 verifies for every message whose hash is a
multiple of the key's order; see tests/ledger/test_ed25519_agreement.py).

Accord takes libsodium's rules for both, checked here before either
library is asked, so that the writer (which judges statements with the
same rules) and every verifier accept exactly the same signatures. Both
libraries compare R by its encoding and check the cofactorless equation
``[S]B = R + [k]A``, so once these encodings are refused they agree. This
is stricter than ZIP-215, which accepts non-canonical encodings and checks
the cofactored equation: a signature ZIP-215 accepts may be refused here,
never the reverse.
"""

from __future__ import annotations

P = 2**255 - 19
"""The field's prime."""
L = 2**252 + 27742317777372353535851937790883648493
"""The prime order of the base point."""
_Y_MASK = (1 << 255) - 1

SMALL_ORDER_Y = frozenset(
    {
        0,  # order 4
        1,  # the identity (order 1)
        P - 1,  # order 2
        2707385501144840649318225287225658788936804267575313519463743609750303402022,  # order 8
        55188659117513257062467267217118295137698188065244968500265048394206261417927,  # order 8
        P,  # 0, not reduced
        P + 1,  # 1, not reduced
    }
)
"""The y coordinates (sign bit aside) of every encoding of a point of small order."""


def acceptable(public: bytes, signature: bytes) -> bool:
    """Whether ``signature`` by ``public`` may be checked at all: sizes right, S reduced,
    the public key reduced and of large order, R of large order and reduced."""
    if len(public) != 32 or len(signature) != 64:
        return False
    if int.from_bytes(signature[32:], "little") >= L:
        return False
    a = int.from_bytes(public, "little") & _Y_MASK
    r = int.from_bytes(signature[:32], "little") & _Y_MASK
    return a < P and r < P and a not in SMALL_ORDER_Y and r not in SMALL_ORDER_Y
