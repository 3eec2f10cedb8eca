"""Loading instrument definitions: immutable, versioned questionnaires."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from assessments.instruments.loader import definition_checksum
from assessments.models import (
    Instrument,
    InstrumentDomain,
    InstrumentItem,
)
from assessments.services.errors import InstrumentInUseError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstrumentLoadResult:
    instrument: Instrument
    outcome: str  # "created", "updated" or "unchanged"


@transaction.atomic
def instrument_load(*, definition: dict) -> InstrumentLoadResult:
    """Store a validated definition as an instrument version; safe to repeat.

    An unchanged definition is left alone. A changed one replaces the stored version only while
    no campaign uses it; otherwise the author must publish a new version.
    """
    code, version = definition["code"], definition["version"]
    checksum = definition_checksum(definition)
    existing = Instrument.objects.select_for_update().filter(code=code, version=version).first()
    if existing is not None:
        if existing.checksum == checksum:
            return InstrumentLoadResult(existing, "unchanged")
        campaigns = list(existing.campaigns.values_list("name", flat=True)[:3])
        if campaigns:
            names = ", ".join(f"'{name}'" for name in campaigns)
            raise InstrumentInUseError(
                f"Instrument {code} v{version} is used by campaign(s) {names} and cannot change. "
                f"Publish the changed definition as version {version + 1} instead."
            )
        existing.domains.all().delete()
        instrument = existing
        outcome = "updated"
    else:
        instrument = Instrument(code=code, version=version)
        outcome = "created"

    instrument.title = definition["title"]
    instrument.languages = definition["languages"]
    instrument.normed = definition["norms"]["normed"]
    instrument.definition = definition
    instrument.checksum = checksum
    instrument.loaded_at = timezone.now()
    instrument.save()

    scales = {scale["code"]: scale for scale in definition["scales"]}
    items_by_code = {item["code"]: item for item in definition["items"]}
    position = 0
    for domain_position, domain in enumerate(definition["domains"]):
        bands = domain["bands"]
        domain_row = InstrumentDomain.objects.create(
            instrument=instrument,
            code=domain["code"],
            position=domain_position,
            group=domain["group"],
            title=domain["title"],
            direction=domain["direction"],
            min_answered=domain["min_answered"],
            high_risk_cutoff=domain["high_risk"],
            band_cutoffs=bands["absolute"],
            benchmark=bands["benchmark"],
        )
        rows = []
        for item_code in domain["items"]:
            item = items_by_code[item_code]
            rows.append(
                InstrumentItem(
                    instrument=instrument,
                    domain=domain_row,
                    code=item_code,
                    position=position,
                    text=item["text"],
                    scale=scales[item["scale"]],
                    reverse=item["reverse"],
                )
            )
            position += 1
        InstrumentItem.objects.bulk_create(rows)
    return InstrumentLoadResult(instrument, outcome)
