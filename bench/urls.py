"""Plimsoll's URLs plus the benchmark's floor view."""

from django.urls import include, path

from bench.views import floor

urlpatterns = [
    path("bench/floor/", floor, name="bench-floor"),
    path("", include("config.urls")),
]
