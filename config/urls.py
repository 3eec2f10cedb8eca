"""Top-level URL routes."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config.views import healthz, readyz

urlpatterns = [
    # The HR web app arrives with its own issue; until then the admin is the way in.
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("s/", include("assessments.urls")),
    path("reports/", include("reports.urls")),
]
