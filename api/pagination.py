"""Cursor pagination: stable under inserts, 100 a page by default, at most 500."""

from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    page_size = 100
    max_page_size = 500
    page_size_query_param = "page_size"
    ordering = "id"
