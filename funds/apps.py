from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FundsConfig(AppConfig):
    name = "funds"
    verbose_name = _("Fund control")

    def ready(self) -> None:
        from django.core import checks

        from funds.documents.checks import document_fonts_check
        from funds.reports.checks import report_zone_check

        checks.register(report_zone_check)
        checks.register(document_fonts_check)
