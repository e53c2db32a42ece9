"""The domain's errors: services raise them, the API and the pages translate them.

InvalidState -> 409 ``{"detail", "code": "invalid_state"}``: the object's state forbids it.
RuleViolation -> 400 ``{"<field>": ["..."]}``: the input breaks a business rule.
PartRefused -> 400 ``{"<part>": {"<index>": {"<field>": ["..."]}}}``: a rule refused one item
of a list in a composite request (the intake's victims and accounts), in the shape DRF gives
a list's errors (LIST_SERIALIZER_ERRORS_AS_DICT).
NotAllowed -> 403: the actor's role may not do this at all.
(Out of scope is Http404, raised by the access helpers.)
"""

from django.utils.functional import Promise


class DomainError(Exception):
    def __init__(self, message: str | Promise) -> None:
        super().__init__(str(message))
        self.message = str(message)


class InvalidState(DomainError):
    code = "invalid_state"


class NotAllowed(DomainError):
    code = "permission_denied"


class RuleViolation(DomainError):
    def __init__(self, message: str | Promise, *, field: str = "non_field_errors") -> None:
        super().__init__(message)
        self.field = field

    def errors(self) -> dict[str, object]:
        """The error in DRF's field-error shape."""
        return {self.field: [self.message]}


class PartRefused(RuleViolation):
    """A domain error raised while handling item ``index`` of the list ``part``."""

    def __init__(self, error: DomainError, *, part: str, index: int) -> None:
        field = error.field if isinstance(error, RuleViolation) else "non_field_errors"
        super().__init__(error.message, field=field)
        self.part, self.index = part, index

    def errors(self) -> dict[str, object]:
        return {self.part: {str(self.index): {self.field: [self.message]}}}
