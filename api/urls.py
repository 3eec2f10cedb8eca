"""The REST API, version 1: `/api/v1/`."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api.views import campaigns, directory

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("directory/departments", directory.DepartmentList.as_view(), name="departments"),
    path(
        "directory/departments/<str:external_id>",
        directory.DepartmentDetail.as_view(),
        name="department",
    ),
    path("directory/employees", directory.EmployeeList.as_view(), name="employees"),
    path(
        "directory/employees/<str:external_id>",
        directory.EmployeeDetail.as_view(),
        name="employee",
    ),
    path("campaigns", campaigns.CampaignList.as_view(), name="campaigns"),
    path("campaigns/<int:pk>", campaigns.CampaignDetail.as_view(), name="campaign"),
    path(
        "campaigns/<int:pk>/participation",
        campaigns.Participation.as_view(),
        name="participation",
    ),
    path("campaigns/<int:pk>/results", campaigns.Results.as_view(), name="results"),
    path(
        "campaigns/<int:pk>/results.xlsx",
        campaigns.ResultsExport.as_view(),
        name="results_export",
    ),
    path("campaigns/<int:pk>/reports", campaigns.Reports.as_view(), name="reports"),
    path(
        "reports/<int:report>/download",
        campaigns.ReportDownload.as_view(),
        name="report_download",
    ),
]
