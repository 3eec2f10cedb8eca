"""Action plans: list, create and update, with the same rules as the HR app."""

from __future__ import annotations

urlpatterns: list = []
