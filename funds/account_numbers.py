"""One identity per bank account: the number as typed, reduced to what identifies it.

Every way in (the API, the pages, the intake, statement imports) passes a number through
``normalise_account_number`` before it looks an account up, so that a card typed with
spaces, hyphens, full-width digits or an invisible character pasted from a chat window is
the same account as the card typed plainly (DOMAIN.md, "Money across cases").
"""

from __future__ import annotations

import unicodedata

# Dashes of every width that people and word processors put between groups of digits.
DASHES = frozenset("-‐‑‒–—―−－﹘﹣")


def normalise_account_number(raw: str) -> str:
    """Answer ``raw`` without separators and invisible characters, full-width made ASCII.

    NFKC turns full-width digits and letters (U+FF10 to U+FF5A) into ASCII; then every space
    (including the ideographic space), dash, control and format character (zero-width
    space, joiner, byte-order mark, direction marks) goes. Letters keep their case: payment
    accounts may be e-mail addresses, and nothing here guesses at them.
    """
    folded = unicodedata.normalize("NFKC", raw)
    return "".join(
        ch
        for ch in folded
        if ch not in DASHES
        and not ch.isspace()
        and unicodedata.category(ch) not in ("Cc", "Cf", "Zs", "Zl", "Zp")
    )
