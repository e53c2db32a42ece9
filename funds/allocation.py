"""R10: share an amount among victims in proportion to their losses, exact to the fen.

Largest-remainder rounding: every share is first rounded down to the fen, then the fen left
over go one each to the largest remainders; ties go to the larger loss, then to the earlier
claim. The shares always add up to the amount exactly, and the same input always gives the
same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

FEN = Decimal("0.01")


def allocate[K](amount: Decimal, claims: Sequence[tuple[K, Decimal]]) -> list[tuple[K, Decimal]]:
    """Share ``amount`` among ``claims`` (key, loss) in proportion to loss; in claim order."""
    if amount < 0:
        raise ValueError("The amount to share cannot be negative.")
    if amount != amount.quantize(FEN):
        raise ValueError("The amount to share must be in whole fen.")
    if any(loss < 0 or loss != loss.quantize(FEN) for _, loss in claims):
        raise ValueError("A loss must be zero or more, in whole fen.")
    fen = int(amount / FEN)
    losses = [int(loss / FEN) for _, loss in claims]
    total = sum(losses)
    if total == 0:
        if fen:
            raise ValueError("There is nothing to share in proportion to.")
        return [(key, Decimal("0.00")) for key, _ in claims]
    # Integer arithmetic throughout: exact however large the amounts.
    floors: list[int] = []
    ranking: list[tuple[int, int, int]] = []
    for index, loss in enumerate(losses):
        whole, remainder = divmod(fen * loss, total)
        floors.append(whole)
        ranking.append((remainder, loss, -index))
    for _remainder, _loss, negative_index in sorted(ranking, reverse=True)[: fen - sum(floors)]:
        floors[-negative_index] += 1
    return [(key, Decimal(share) * FEN) for (key, _), share in zip(claims, floors, strict=True)]
