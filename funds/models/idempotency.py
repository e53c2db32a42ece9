from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotencyKey(models.Model):
    """The kept answer to a POST sent with an ``Idempotency-Key`` (API.md, "Retries").

    Inserted in the same transaction as the request's effect (funds.api.idempotency), so a
    crash never keeps one without the other; purged after IDEMPOTENCY_KEY_TTL by
    funds.tasks.purge_idempotency_keys, which reads ``created_at`` through its index.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("user"),
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=2048)
    # SHA-256 (hex) of the method, the path and the body (canonical JSON where it is JSON).
    fingerprint = models.CharField(_("request fingerprint"), max_length=64)
    response_status = models.PositiveSmallIntegerField(_("response status"))
    response_body = models.JSONField(_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)

    class Meta:
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
            models.CheckConstraint(
                condition=models.Q(response_status__gte=100, response_status__lt=500),
                name="idempotency_key_keeps_no_server_error",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
