"""Model pages of the admin site, one module per layer below. Django's admin autodiscovery
imports this package; every write goes through the services of the app that owns the row."""

from backoffice.admin import campaigns, directory, results  # noqa: F401 - registers the pages
