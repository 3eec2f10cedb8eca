"""HR web app URLs: sign-in at the top, every organisation's pages under /o/<slug>/."""

from django.urls import include, path

from web.views import (
    actions,
    api_keys,
    audit,
    auth,
    campaigns,
    directory,
    home,
    imports,
    reports,
    results,
    two_factor,
    users,
)

app_name = "web"

organization_urls = [
    path("", home.org_home, name="org_home"),
    path("departments/", directory.departments_page, name="departments"),
    path("departments/<int:pk>/", directory.department_page, name="department"),
    path("departments/<int:pk>/active/", directory.department_active, name="department_active"),
    path("employees/", directory.employees_page, name="employees"),
    path("import/", imports.import_page, name="import"),
    path("import/template.csv", imports.import_template, name="import_template"),
    path("import/<int:pk>/", imports.import_preview, name="import_preview"),
    path("import/<int:pk>/apply/", imports.import_apply, name="import_apply"),
    path("import/<int:pk>/discard/", imports.import_discard, name="import_discard"),
    path("export/directory.csv", imports.directory_export, name="directory_export"),
    path("users/", users.users_page, name="users"),
    path("security/", two_factor.security_page, name="security"),
    path("audit/", audit.audit_page, name="audit"),
    path("security/save/", two_factor.security_save, name="security_save"),
    path("users/<int:pk>/", users.member_page, name="member"),
    path("users/<int:pk>/remove/", users.member_remove, name="member_remove"),
    path("api-keys/", api_keys.api_keys_page, name="api_keys"),
    path("api-keys/<int:pk>/revoke/", api_keys.api_key_revoke_view, name="api_key_revoke"),
    path("campaigns/", campaigns.campaigns_page, name="campaigns"),
    path("campaigns/new/", campaigns.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", campaigns.campaign_page, name="campaign"),
    path("campaigns/<int:pk>/edit/", campaigns.campaign_edit, name="campaign_edit"),
    path("campaigns/<int:pk>/launch/", campaigns.campaign_launch_page, name="campaign_launch"),
    path("campaigns/<int:pk>/close/", campaigns.campaign_close_page, name="campaign_close"),
    path("campaigns/<int:pk>/remind/", campaigns.campaign_remind, name="campaign_remind"),
    path("instruments/<int:pk>/", campaigns.instrument_page, name="instrument"),
    path("actions/", actions.actions_page, name="actions"),
    path("actions/new/", actions.action_new, name="action_new"),
    path("actions/<int:pk>/", actions.action_edit, name="action_edit"),
    path("campaigns/<int:pk>/results/", results.results_page, name="results"),
    path("campaigns/<int:pk>/heatmap/", results.heatmap_page, name="heatmap"),
    path(
        "campaigns/<int:pk>/results/departments/<int:department>/",
        results.department_results_page,
        name="results_department",
    ),
    path(
        "campaigns/<int:pk>/results/areas/<slug:domain>/",
        results.domain_results_page,
        name="results_domain",
    ),
    path("campaigns/<int:pk>/results.xlsx", results.results_export, name="results_export"),
    path("campaigns/<int:pk>/reports/", reports.reports_page, name="reports"),
    path("campaigns/<int:pk>/reports/status/", reports.reports_status, name="reports_status"),
    path(
        "campaigns/<int:pk>/participation/",
        campaigns.participation_page,
        name="participation",
    ),
    path(
        "campaigns/<int:pk>/participation/live/",
        campaigns.participation_live,
        name="participation_live",
    ),
    path("campaigns/<int:pk>/retry-failed/", campaigns.retry_failed, name="retry_failed"),
    path(
        "campaigns/<int:pk>/delivery-failures/",
        campaigns.delivery_failures_page,
        name="delivery_failures",
    ),
]

urlpatterns = [
    path("", auth.home, name="home"),
    path("login/", auth.SignInView.as_view(), name="login"),
    path("logout/", auth.auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth.PasswordResetView.as_view(), name="password_reset"),
    path("password-reset/sent/", auth.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("organisations/", auth.organizations, name="organizations"),
    path("login/confirm/", two_factor.two_factor, name="two_factor"),
    path("o/<slug:org>/", include(organization_urls)),
]
