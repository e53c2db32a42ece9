"""The allowed transitions of each state machine, in one table each (docs/lifecycle.md).

Services read these tables; nothing else decides whether a transition is allowed.
"""

from django.utils.translation import gettext as _

from funds.errors import InvalidState
from funds.models import CaseStatus, InstructionStatus, RoundStatus

# action: (statuses it may start from, status it leads to)
CASE_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "accept": (frozenset({CaseStatus.REPORTED}), CaseStatus.ACCEPTED),
    "file": (frozenset({CaseStatus.ACCEPTED}), CaseStatus.FILED),
    "close": (
        frozenset({CaseStatus.REPORTED, CaseStatus.ACCEPTED, CaseStatus.FILED}),
        CaseStatus.CLOSED,
    ),
}

INSTRUCTION_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "approve": (frozenset({InstructionStatus.AWAITING_APPROVAL}), InstructionStatus.PENDING),
    "decline": (frozenset({InstructionStatus.AWAITING_APPROVAL}), InstructionStatus.DECLINED),
    # A send-back pauses the approval and a resubmission resumes it: the status stays, and
    # Instruction.sent_back_at tells the two apart (funds.services.approvals).
    "send_back": (
        frozenset({InstructionStatus.AWAITING_APPROVAL}),
        InstructionStatus.AWAITING_APPROVAL,
    ),
    "resubmit": (
        frozenset({InstructionStatus.AWAITING_APPROVAL}),
        InstructionStatus.AWAITING_APPROVAL,
    ),
    "execute": (frozenset({InstructionStatus.PENDING}), InstructionStatus.EXECUTED),
    "reject": (frozenset({InstructionStatus.PENDING}), InstructionStatus.REJECTED),
    "cancel": (
        frozenset({InstructionStatus.AWAITING_APPROVAL, InstructionStatus.PENDING}),
        InstructionStatus.CANCELLED,
    ),
}

# R10. Objections leave a round in notice; only the service's clock check (before
# notice_until) tells an objection in time from one too late, and a confirmation early
# from one on time.
ROUND_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "object": (frozenset({RoundStatus.NOTICE}), RoundStatus.NOTICE),
    "withdraw": (frozenset({RoundStatus.NOTICE}), RoundStatus.WITHDRAWN),
    "confirm": (frozenset({RoundStatus.NOTICE}), RoundStatus.CONFIRMED),
}


LABELS = {
    **dict(CaseStatus.choices),
    **dict(InstructionStatus.choices),
    **dict(RoundStatus.choices),
}


def next_status(table: dict[str, tuple[frozenset[str], str]], action: str, current: str) -> str:
    """The status ``action`` leads to from ``current``, or InvalidState."""
    sources, target = table[action]
    if current not in sources:
        raise InvalidState(
            _("This cannot be done while the status is “%(status)s”.")
            % {"status": LABELS.get(current, current)}
        )
    return target
