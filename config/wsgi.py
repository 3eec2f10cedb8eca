"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# After set-up, before serving: a server without an explicit email set-up does not start.
from config.email import require_email_url  # noqa: E402 - needs the settings loaded

require_email_url()
