from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """The Django admin site's model pages: an interface on top of every app, like the HR app
    and the API, so it may close campaigns, request reports and show participation through the
    same services and selectors. Only superusers enter (config.apps.PlimsollAdminSite)."""

    name = "backoffice"
    verbose_name = "Back office"
