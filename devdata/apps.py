"""The dev-data app: no models, only the demo world, the generator and their commands."""

from django.apps import AppConfig


class DevdataConfig(AppConfig):
    name = "devdata"
    # Not translated: an app without models appears on no page.
    verbose_name = "Development data"
