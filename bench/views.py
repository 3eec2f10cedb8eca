"""The floor of `make bench-submit`: the least Django can do to store one survey response.

It gets the same request as the survey's submit (cookies, CSRF token, answers) through the same
middleware and writes one comparable Response row, but skips the invitation lookup and lock,
the rate limit, answer validation and the completion update. Its rate is the ceiling the real
submit path is measured against.
"""

from __future__ import annotations

import functools
import itertools
import os

from django.http import HttpRequest, HttpResponseRedirect
from django.views.decorators.http import require_POST

from accounts.models import Department
from assessments.answers import SKIP
from assessments.models import Campaign, Response

NOT_ANSWERS = {"csrfmiddlewaretoken", "lang"}
# The shape of the coarse attributes the real path copies from the employee.
ATTRIBUTES = {"site": "north", "tenure_band": "1-3 years"}

_next_department = itertools.count()


@functools.cache
def _target() -> tuple[int, int, tuple[int, ...]]:
    """Organisation, campaign and departments to write to; read once per worker process."""
    campaign = Campaign.objects.only("organization_id").get(pk=int(os.environ["BENCH_CAMPAIGN_ID"]))
    departments = Department.objects.filter(organization_id=campaign.organization_id)
    return campaign.organization_id, campaign.pk, tuple(departments.values_list("pk", flat=True))


@require_POST
def floor(request: HttpRequest) -> HttpResponseRedirect:
    organization_id, campaign_id, departments = _target()
    # Every scale of the benchmarked instrument starts at 1, so a submitted value is already its
    # scale position and these bytes equal what the real path stores for the same form.
    answers = bytes(
        0 if value == SKIP else int(value)
        for key, value in request.POST.items()
        if key not in NOT_ANSWERS
    )
    Response.objects.create(
        organization_id=organization_id,
        campaign_id=campaign_id,
        department_id=departments[next(_next_department) % len(departments)],
        answers=answers,
        attributes=ATTRIBUTES,
    )
    return HttpResponseRedirect(f"/s/thanks/?lang=en&c={campaign_id}")
