from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for `make demo`: it sits on top of every app, since it runs the whole product
    (people, campaigns, answers, scoring, reports, actions) to show each feature."""

    name = "demo"
    verbose_name = "Demo data"
