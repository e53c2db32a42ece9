"""What a notice says: its line in the page, its link, and its mail.

One place renders every notice (of a flag, an instruction or a periodic report), so that the
page, the API and the mail say the same thing. The page's texts are in the active language;
mail is written in the site's language (settings.LANGUAGE_CODE) when it is queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Role
from funds.masking import mask_account_number
from funds.models import Notification, NotificationReason

# The approval's answers to the requesting officer (funds.services.approvals).
DECISIONS = (NotificationReason.SENT_BACK, NotificationReason.DECLINED)


def report_path(report_id: int) -> str:
    """The manager's page of one periodic report."""
    return reverse("desk-report", args=[report_id])


def notice_url(note: Notification) -> str:
    """The report's page; a liaison's inbox; else the case page of an officer or manager."""
    if note.report_id is not None:
        return report_path(note.report_id)
    if note.recipient.role == Role.LIAISON:
        return "/inbox/"
    return f"/cases/{note.case_id}/"


def notice_headline(note: Notification, *, for_mail: bool = False) -> str:
    """The notice's line. Mail subjects travel and are kept outside the product (mail
    servers, clients' lists, logs), so ``for_mail`` shows the account's last four only
    (PIPL art. 28); the page, behind the sign-in, shows it in full."""
    flag, instruction = note.flag, note.instruction
    if flag is not None:
        return _("%(reason)s: %(kind)s, case %(case)s") % {
            "reason": note.get_reason_display(),
            "kind": flag.get_kind_display(),
            "case": flag.case.number,
        }
    if instruction is not None:
        number = instruction.involved_account.account.number
        account = mask_account_number(number) if for_mail else number
        if note.reason == NotificationReason.FREEZE_IN_FORCE:
            return _("Queued freeze in force: %(account)s, case %(case)s") % {
                "account": account,
                "case": instruction.case.number,
            }
        if note.reason in DECISIONS:
            return _("%(reason)s: %(kind)s of %(account)s, case %(case)s") % {
                "reason": note.get_reason_display(),
                "kind": instruction.get_kind_display(),
                "account": account,
                "case": instruction.case.number,
            }
        return _("New %(kind)s: %(account)s, %(amount)s yuan") % {
            "kind": instruction.get_kind_display(),
            "account": account,
            "amount": f"{instruction.requested_amount:.2f}",
        }
    report = note.report
    assert report is not None  # the check constraint notification_one_subject
    return _("%(kind)s of %(unit)s ready, %(start)s to %(end)s") % {
        "kind": report.get_kind_display(),
        "unit": report.unit.name,
        "start": report.period_start.isoformat(),
        "end": report.period_end.isoformat(),
    }


@dataclass(frozen=True)
class MailText:
    subject: str
    body: str


def _local(moment: object) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "-"  # type: ignore[arg-type]


def notice_mail(note: Notification) -> MailText:
    """The mail of a notice of a flag or an instruction, in the site's language."""
    with translation.override(settings.LANGUAGE_CODE):
        link = f"{settings.SITE_URL}{notice_url(note)}"
        flag = note.flag
        if flag is not None:
            subject = _("[%(level)s] %(kind)s: case %(case)s") % {
                "level": flag.get_level_display(),
                "kind": flag.get_kind_display(),
                "case": flag.case.number,
            }
            body = _("Due %(due)s. %(reason)s\n%(link)s") % {
                "due": _local(flag.due_at),
                "reason": note.get_reason_display(),
                "link": link,
            }
            return MailText(subject, body)
        instruction = note.instruction
        assert instruction is not None  # reports' mail is funds.reports.periodic's
        if note.reason == NotificationReason.FREEZE_IN_FORCE:
            body = _(
                "The freezes ahead of this queued freeze have ended; it is in force from "
                "%(start)s. %(institution)s is to confirm the amount it now holds by %(due)s.\n"
                "%(link)s"
            ) % {
                "start": _local(instruction.effective_from),
                "institution": instruction.institution.name,
                "due": _local(instruction.response_due_at),
                "link": link,
            }
        elif note.reason in DECISIONS:
            # The reason itself stays in the product: mail travels outside it.
            body = _(
                "Your request for a %(kind)s in case %(case)s: %(decision)s. The case file "
                "shows the approver's reason.\n%(link)s"
            ) % {
                "kind": instruction.get_kind_display(),
                "case": instruction.case.number,
                "decision": note.get_reason_display(),
                "link": link,
            }
        else:
            body = _(
                "Case %(case)s asks %(institution)s for a %(kind)s. Answer due: %(due)s.\n%(link)s"
            ) % {
                "case": instruction.case.number,
                "institution": instruction.institution.name,
                "kind": instruction.get_kind_display(),
                "due": _local(instruction.response_due_at),
                "link": link,
            }
        return MailText(notice_headline(note, for_mail=True), body)
