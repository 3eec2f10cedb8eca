"""Directory sync runs: many rows at once, checked in bulk, applied by a Celery task."""

from __future__ import annotations

urlpatterns: list = []
