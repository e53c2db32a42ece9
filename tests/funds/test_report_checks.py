"""The system check that the reports' days are the triggers' days."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings


def test_it_passes_in_the_zone_the_triggers_count_in():
    call_command("check")


@override_settings(TIME_ZONE="UTC")
def test_it_refuses_another_time_zone():
    with pytest.raises(SystemCheckError, match=r"funds\.E001.*TIME_ZONE is 'UTC'"):
        call_command("check")
