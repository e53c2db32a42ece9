"""Masking of personal data shown back to users (identity numbers, phones, account numbers)."""


def mask(value: str, *, keep_start: int, keep_end: int) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return (
        value[:keep_start]
        + "*" * (len(value) - keep_start - keep_end)
        + value[len(value) - keep_end :]
    )


def mask_id_number(value: str) -> str:
    """370102********1234: the region code and the last four stay readable."""
    return mask(value, keep_start=6, keep_end=4)


def mask_phone(value: str) -> str:
    """138****5678."""
    return mask(value, keep_start=3, keep_end=4)


def mask_account_number(value: str) -> str:
    """************7890: only the last four digits stay readable."""
    return mask(value, keep_start=0, keep_end=4)
