"""HR web app URLs: sign-in at the top, every organisation's pages under /o/<slug>/."""

from django.urls import include, path

from web.views import auth, home

app_name = "web"

organization_urls = [
    path("", home.org_home, name="org_home"),
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
    path("o/<slug:org>/", include(organization_urls)),
]
