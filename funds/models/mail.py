from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class OutgoingMail(models.Model):
    """One message to one address, waiting for, or done with, its delivery: the outbox.

    Every mail of the product is written here, in the same transaction as the thing it tells
    about (a notice, a report), and only sent by the delivery task
    (funds.tasks.deliver_mail, through funds.services.mail.mail_deliver), outside any
    transaction. A row goes: due (``next_attempt_at`` reached) -> claimed (``claimed_at``,
    committed before the send) -> sent (``sent_at``), or back to due with ``last_error``
    and a later ``next_attempt_at`` (exponential backoff), or given up (``gave_up_at``) after
    MAIL_MAX_ATTEMPTS failures, or when a claim outlived its lease without an outcome (the
    worker died mid-send: the server may have taken it, so it is never resent blindly).
    One address a row, so that one refused address neither blocks nor repeats the others.
    """

    to = models.EmailField(_("to"))
    subject = models.TextField(_("subject"))
    body = models.TextField(_("body"))
    attachment = models.BinaryField(_("attachment"), null=True, blank=True)
    attachment_name = models.CharField(_("attachment name"), max_length=200, blank=True)
    attachment_type = models.CharField(_("attachment type"), max_length=100, blank=True)
    # What the mail tells of, when anything: its mailed_at is set when the mail was sent.
    notification = models.OneToOneField(
        "funds.Notification",
        verbose_name=_("notification"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mail",
    )
    report = models.ForeignKey(
        "funds.PeriodicReport",
        verbose_name=_("periodic report"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="mails",
    )
    created_at = models.DateTimeField(_("created at"))
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    gave_up_at = models.DateTimeField(_("gave up at"), null=True, blank=True)

    class Meta:
        verbose_name = _("outgoing mail")
        verbose_name_plural = _("outgoing mail")
        ordering = ["-created_at", "-id"]
        indexes = [
            # Read by funds.services.mail.mail_deliver (the task funds.tasks.deliver_mail).
            models.Index(
                fields=["next_attempt_at"],
                name="mail_due",
                condition=Q(sent_at__isnull=True, gave_up_at__isnull=True, claimed_at__isnull=True),
            ),
            models.Index(
                fields=["claimed_at"],
                name="mail_claimed",
                condition=Q(
                    sent_at__isnull=True, gave_up_at__isnull=True, claimed_at__isnull=False
                ),
            ),
            models.Index(
                fields=["gave_up_at"], name="mail_given_up", condition=Q(gave_up_at__isnull=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(sent_at__isnull=True) | Q(gave_up_at__isnull=True),
                name="mail_sent_or_given_up",
            ),
            models.CheckConstraint(
                condition=Q(attachment__isnull=True) | ~Q(attachment_name=""),
                name="mail_attachment_named",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"
