"""Webhook endpoints, their deliveries, redelivery and test pings."""

from __future__ import annotations

urlpatterns: list = []
