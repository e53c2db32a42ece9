"""One identity per bank account: the number as typed, reduced to what identifies it.

Every way in (the API, the pages, the intake, statement imports) passes a number through
``normalise_account_number`` before it looks an account up, so that a card typed with
spaces, hyphens, full-width digits or an invisible character pasted from a chat window is
the same account as the card typed plainly (DOMAIN.md, "Money across cases").

Migration funds 0015 holds a copy of this function (a migration never imports app code):
a change here is a change there, with a migration that applies it to the stored numbers.
"""

from __future__ import annotations

import unicodedata

# What an account number may hold once normalised (BankAccount.number).
NUMBER_MAX_LENGTH = 64

# Dashes of every width that people and word processors put between groups of digits.
DASHES = frozenset("-‐‑‒–—―−－﹘﹣")

# Spaces (Zs: the ideographic space among them), line and paragraph separators, controls and
# format characters (Cf: zero-width space, joiners, byte-order mark, direction marks, soft
# hyphen) and surrogates.
INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs"})

# Characters that show nothing but are filed as letters or marks, so that their category
# does not give them away: the combining grapheme joiner, the Hangul fillers, the Khmer
# inherent vowels, the Mongolian variation selectors, the Braille blank and the variation
# selectors.
INVISIBLE = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u2800\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
    + "".join(chr(c) for c in range(0xE0100, 0xE01F0))
)


def _keep(ch: str) -> bool:
    return (
        ch not in DASHES
        and ch not in INVISIBLE
        and not ch.isspace()
        and unicodedata.category(ch) not in INVISIBLE_CATEGORIES
    )


def normalise_account_number(raw: str) -> str:
    """Answer ``raw`` without separators and invisible characters, full-width made ASCII.

    NFKC turns full-width digits and letters into ASCII; then every space (including the
    ideographic space), dash, control and format character (zero-width space, joiner,
    byte-order mark, direction marks) and the few other characters that show nothing go.
    Letters keep their case: payment accounts may be e-mail addresses, and nothing here
    guesses at them.

    NFKC runs again at the end: a removed character may have stood between a letter and its
    combining mark, which then compose, so that the answer is the same however often the
    function is applied to it.
    """
    if raw.isascii() and raw.isalnum():
        return raw  # nothing to normalise or remove: the common case of a bulk import
    kept = "".join(ch for ch in unicodedata.normalize("NFKC", raw) if _keep(ch))
    return unicodedata.normalize("NFKC", kept)
