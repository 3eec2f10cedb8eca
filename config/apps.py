"""The admin site, restricted to superusers.

The admin is an operator's tool across every organisation; HR roles work in the HR app, scoped
to their organisation. Until the admin is scoped per organisation, only superusers enter.
"""

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class PlimsollAdminSite(AdminSite):
    site_header = "Plimsoll administration"
    site_title = "Plimsoll"
    index_title = "Organisations, people, instruments and campaigns"

    def has_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser


class PlimsollAdminConfig(AdminConfig):
    default_site = "config.apps.PlimsollAdminSite"
