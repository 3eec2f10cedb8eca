"""Throttling per API key (or per signed-in user): 429 with `Retry-After`."""

from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey


class PerKeyThrottle(SimpleRateThrottle):
    scope = "api"

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
