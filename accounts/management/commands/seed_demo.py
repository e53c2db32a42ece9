"""Load the demo world (accounts.demo); running it again changes nothing."""

from typing import Any

from django.core.management.base import BaseCommand

from accounts.demo import DEMO_PASSWORD, build_demo_world


class Command(BaseCommand):
    help = f"Load the demo world (idempotent). Demo users sign in with {DEMO_PASSWORD}."

    def handle(self, *args: Any, **options: Any) -> None:
        orgs, created = build_demo_world()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo world ready: {len(orgs)} organisations, {created} users created."
            )
        )
