"""Loaded by pytest before Django reads its settings (see addopts in pyproject.toml).

Tests need a SECRET_KEY but must not need a developer to export one. The real environment still
wins, so CI's DATABASE_URL and CELERY_BROKER_URL reach the settings unchanged.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-used-only-by-the-test-suite")
