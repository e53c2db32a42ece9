from typing import Any

from django.db import models


class AppendOnly(models.Model):
    """A row written once and never changed or deleted: an audit trail. Python refuses here;
    PostgreSQL refuses too, by a trigger on each such table (migrations funds 0002 and 0008),
    so not even a raw query can rewrite history."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError(f"{self._meta.object_name} rows cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError(f"{self._meta.object_name} rows cannot be deleted.")
