"""The domain's errors: services raise them, the API and the pages translate them.

InvalidState -> 409 ``{"detail", "code": "invalid_state"}``: the object's state forbids it.
RuleViolation -> 400 ``{"<field>": ["..."]}``: the input breaks a business rule.
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
