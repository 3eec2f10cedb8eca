"""Who is calling the API: an organisation's API key (`Authorization: Api-Key <key>`), or an
HR user signed in to the web app (the browsable API and the docs)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.services import api_key_authenticate

KEYWORD = "Api-Key"


@dataclass(frozen=True)
class KeyPrincipal:
    """The caller behind an API key: it acts for the organisation, never as a person."""

    key: ApiKey
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    is_anonymous: bool = False

    @property
    def pk(self) -> None:  # never a user row: throttles and audits use the key
        return None

    def __str__(self) -> str:
        return f"API key {self.key.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`. A missing header leaves the request to the next
    authentication; a key that is unknown, revoked or expired is refused (401)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = api_key_authenticate(raw.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(
                gettext_lazy("The API key is unknown, revoked or expired.")
            )
        return KeyPrincipal(key=key), key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key an admin made in the HR app, with scopes.",
        }
