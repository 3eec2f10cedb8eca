"""The REST API, version 1: `/api/v1/`. Each module of api/views lists its own paths."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.problems import not_found
from api.views import actions, campaigns, directory, sync, webhooks

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    *directory.urlpatterns,
    *sync.urlpatterns,
    *campaigns.urlpatterns,
    *actions.urlpatterns,
    *webhooks.urlpatterns,
    # Anything else under /api/v1/ is a problem-details 404, not the HR app's HTML page.
    re_path(r"^[\s\S]*\Z", not_found, name="not_found"),
]
