from django.apps import AppConfig


class WebConfig(AppConfig):
    """The HR web app: server-rendered pages (with htmx for the live parts) for admins,
    analysts, managers and viewers, each page inside one organisation and its access."""

    name = "web"
    verbose_name = "HR web app"
