"""Settings for `make bench-submit`: Plimsoll's own settings plus the floor view's URL.

Both measured phases run on these settings, so the middleware, database and cache setup are
identical and only the view differs.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
