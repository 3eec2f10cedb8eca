"""Cursor pagination: stable under inserts, 100 a page by default, at most 500."""

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "id"

    def decode_cursor(self, request):
        """A cursor that was not made here is bad input (400 naming `cursor`), not a 404."""
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound as error:
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Not a cursor from a `next` or `previous` link."]}
            ) from error
