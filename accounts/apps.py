from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Organisations and users")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from accounts import audit, schema  # noqa: F401 - schema registers the OpenAPI schemes
        from accounts.middleware import record_second_factor, record_sign_in_time

        user_logged_in.connect(record_sign_in_time, dispatch_uid="accounts.record_sign_in_time")
        user_logged_in.connect(record_second_factor, dispatch_uid="accounts.record_second_factor")
        audit.connect()
