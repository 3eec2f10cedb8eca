from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # accounts.services.event_record hands events over to `webhooks.tasks.dispatch_event`
        # by name (accounts sits below this app): the task must be registered in every process
        # that writes events (web, workers, commands), not only where Celery autodiscovers.
        from webhooks import tasks  # noqa: F401
