"""Survey URLs, mounted at /s/."""

from django.urls import path

from assessments import views

app_name = "survey"

urlpatterns = [
    path("", views.start, name="start"),
    path("questions/", views.questions, name="questions"),
    path("thanks/", views.thanks, name="thanks"),
    # Last, so that the fixed pages above are never mistaken for a token.
    path("<str:token>/", views.entry, name="entry"),
]
