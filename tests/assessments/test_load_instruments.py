"""`manage.py load_instruments`: validate everything first, load idempotently, never change a
version that a campaign uses."""

import io
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from assessments.models import Instrument, InstrumentDomain, InstrumentItem
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db

SHIPPED_CORE = Path(settings.INSTRUMENT_DEFINITIONS_DIR) / "plimsoll-core-v1.yaml"


def load(*paths) -> str:
    out = io.StringIO()
    call_command("load_instruments", *[str(p) for p in paths], stdout=out)
    return out.getvalue()


def row_counts() -> tuple[int, int, int]:
    return (
        Instrument.objects.count(),
        InstrumentDomain.objects.count(),
        InstrumentItem.objects.count(),
    )


def small_definition(code: str = "small", version: int = 1) -> dict:
    """A synthetic two-domain instrument with placeholder text."""
    labels = {"en": [f"Point {n}" for n in range(1, 6)]}

    def domain(domain_code, direction, items):
        return {
            "code": domain_code,
            "title": {"en": domain_code.title()},
            "direction": direction,
            "min_answered": 1,
            "high_risk": 2.0 if direction == "higher_is_better" else 4.0,
            "bands": {"absolute": [2.0, 3.0, 4.0]},
            "items": items,
        }

    return {
        "format": 1,
        "code": code,
        "version": version,
        "title": {"en": "Small instrument"},
        "languages": ["en"],
        "scales": [{"code": "s5", "min": 1, "max": 5, "labels": labels}],
        "domains": [
            domain("alpha", "higher_is_better", ["A1", "A2"]),
            domain("beta", "higher_is_worse", ["B1", "B2", "B3"]),
        ],
        "items": [
            {"code": code, "scale": "s5", "text": {"en": f"Item {n}"}}
            for n, code in enumerate(["B1", "A1", "B2", "A2", "B3"], start=1)
        ],
    }


def write(path: Path, definition: dict, **dump_options) -> Path:
    path.write_text(yaml.safe_dump(definition, allow_unicode=True, **dump_options), "utf-8")
    return path


def shipped_core() -> dict:
    return yaml.safe_load(SHIPPED_CORE.read_text(encoding="utf-8"))


# --- The shipped instrument -------------------------------------------------------------------


def test_loading_the_shipped_folder_creates_core_v1():
    output = load()

    assert "plimsoll-core v1: created (plimsoll-core-v1.yaml)" in output
    instrument = Instrument.objects.get(code="plimsoll-core", version=1)
    assert instrument.languages == ["en", "de"]
    assert instrument.normed is False
    assert instrument.domains.count() == 10
    assert instrument.items.count() == 42


def test_second_run_is_unchanged_and_writes_nothing():
    load()
    before = row_counts()
    instrument = Instrument.objects.get(code="plimsoll-core", version=1)
    item_pks = list(instrument.items.values_list("pk", flat=True))

    output = load()

    assert "plimsoll-core v1: unchanged (plimsoll-core-v1.yaml)" in output
    assert row_counts() == before == (1, 10, 42)
    again = Instrument.objects.get(pk=instrument.pk)
    assert again.loaded_at == instrument.loaded_at
    assert list(again.items.values_list("pk", flat=True)) == item_pks


def test_items_are_stored_in_domain_order_with_their_scale(core_instrument):
    definition = core_instrument.definition
    items = list(core_instrument.items.select_related("domain").order_by("position"))

    assert [i.position for i in items] == list(range(42))
    expected_codes = [code for d in definition["domains"] for code in d["items"]]
    assert [i.code for i in items] == expected_codes
    # Domains follow one another: an item's domain position never goes back.
    domain_positions = [i.domain.position for i in items]
    assert domain_positions == sorted(domain_positions)
    assert [d.code for d in core_instrument.domains.order_by("position")] == [
        d["code"] for d in definition["domains"]
    ]
    agree5 = definition["scales"][0]
    assert agree5["code"] == "agree5"
    for stored in items:
        assert stored.scale == agree5
        assert stored.scale["min"] == 1 and stored.scale["max"] == 5
    dem5 = next(i for i in items if i.code == "DEM5")
    assert dem5.reverse is True
    assert dem5.domain.code == "demands"
    assert set(dem5.text) == {"en", "de"}


def test_domain_rows_carry_direction_cut_offs_and_bands(core_instrument):
    demands = core_instrument.domains.get(code="demands")
    assert demands.direction == "higher_is_worse"
    assert demands.min_answered == 3
    assert demands.high_risk_cutoff == 3.5
    assert demands.band_cutoffs == [2.0, 2.75, 3.5]
    assert demands.benchmark is None
    assert demands.group == "stressor"


def test_benchmark_is_stored_on_the_domain(tmp_path):
    definition = small_definition()
    definition["domains"][0]["bands"] = {"benchmark": {"p20": 2.5, "p50": 3.1, "p80": 3.9}}
    load(write(tmp_path / "small.yaml", definition))

    alpha = InstrumentDomain.objects.get(instrument__code="small", code="alpha")
    assert alpha.benchmark == {"p20": 2.5, "p50": 3.1, "p80": 3.9}
    assert alpha.band_cutoffs is None


# --- Errors in files --------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("format: 1\ncode: broken\n  version: 1\n", encoding="utf-8")

    with pytest.raises(CommandError) as info:
        load(path)

    message = str(info.value)
    assert str(path) in message
    assert "line 3, column" in message
    assert "not valid YAML" in message
    assert row_counts() == (0, 0, 0)


def test_validation_error_names_the_path_inside_the_file_and_loads_nothing(tmp_path):
    # The good file sorts first, so loading file by file would have stored it.
    write(tmp_path / "a-good.yaml", small_definition("good"))
    bad = small_definition("bad")
    bad["domains"][1]["items"] = ["B1", "B2", "B9"]
    bad_path = write(tmp_path / "b-bad.yaml", bad)

    with pytest.raises(CommandError) as info:
        load(tmp_path)

    message = str(info.value)
    assert str(bad_path) in message
    assert "domains[1].items[2]: unknown item code 'B9'" in message
    assert "items[4]: item 'B3' is not in any domain" in message
    assert "a-good.yaml" not in message
    assert row_counts() == (0, 0, 0)


def test_every_bad_file_is_reported(tmp_path):
    first = small_definition("first")
    first["version"] = 0
    second = small_definition("second")
    second["domains"][0]["direction"] = "sideways"
    write(tmp_path / "first.yaml", first)
    write(tmp_path / "second.yaml", second)

    with pytest.raises(CommandError) as info:
        load(tmp_path)

    message = str(info.value)
    assert f"{tmp_path / 'first.yaml'}: 1 problem(s)" in message
    assert "version: must be at least 1, got 0" in message
    assert f"{tmp_path / 'second.yaml'}: 1 problem(s)" in message
    assert "domains[0].direction: 'sideways' is not one of" in message


def test_nonexistent_path_is_a_clear_error(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(CommandError, match=r"nope\.yaml: no such file or folder"):
        load(missing)


def test_folder_without_definition_files_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("not a definition", encoding="utf-8")
    with pytest.raises(CommandError, match=r"No definition files"):
        load(tmp_path)


# --- Changing definitions ---------------------------------------------------------------------


def test_changed_definition_of_an_unused_version_is_updated(tmp_path):
    path = write(tmp_path / "small.yaml", small_definition())
    assert "small v1: created (small.yaml)" in load(path)
    old_domain_pks = set(InstrumentDomain.objects.values_list("pk", flat=True))

    changed = small_definition()
    changed["items"][1]["text"]["en"] = "Item 2, reworded"
    changed["domains"][0]["items"] = ["A2", "A1"]
    write(path, changed)

    assert "small v1: updated (small.yaml)" in load(path)

    assert row_counts() == (1, 2, 5)
    instrument = Instrument.objects.get(code="small", version=1)
    assert instrument.definition["items"][1]["text"] == {"en": "Item 2, reworded"}
    items = list(instrument.items.order_by("position"))
    assert [i.code for i in items] == ["A2", "A1", "B1", "B2", "B3"]
    assert items[1].text == {"en": "Item 2, reworded"}
    # The old domain rows were replaced, not left behind.
    assert not old_domain_pks & set(InstrumentDomain.objects.values_list("pk", flat=True))


def test_changed_definition_of_a_used_version_is_refused(tmp_path, core_instrument, organization):
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    checksum, title = core_instrument.checksum, core_instrument.title
    before = row_counts()
    changed = shipped_core()
    changed["title"]["en"] = "Plimsoll core survey, retitled"
    path = write(tmp_path / "plimsoll-core-v1.yaml", changed)

    with pytest.raises(CommandError) as info:
        load(path)

    message = str(info.value)
    assert "plimsoll-core v1" in message
    assert f"'{campaign.name}'" in message
    assert "version 2" in message
    core_instrument.refresh_from_db()
    assert core_instrument.checksum == checksum
    assert core_instrument.title == title
    assert row_counts() == before


def test_refused_change_rolls_back_other_files_of_the_same_run(
    tmp_path, core_instrument, organization
):
    CampaignFactory(organization=organization, instrument=core_instrument)
    write(tmp_path / "a-new.yaml", small_definition("brand-new"))
    changed = shipped_core()
    changed["domains"][0]["high_risk"] = 4.0
    write(tmp_path / "b-core.yaml", changed)

    with pytest.raises(CommandError, match=r"cannot change"):
        load(tmp_path)

    assert not Instrument.objects.filter(code="brand-new").exists()


def test_unchanged_definition_of_a_used_version_is_fine(core_instrument, organization):
    CampaignFactory(organization=organization, instrument=core_instrument)
    assert "plimsoll-core v1: unchanged" in load()


def test_new_version_of_a_used_instrument_loads_alongside(tmp_path, core_instrument, organization):
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    checksum = core_instrument.checksum
    v2 = shipped_core()
    v2["version"] = 2
    v2["title"]["en"] = "Plimsoll core survey, second edition"
    path = write(tmp_path / "plimsoll-core-v2.yaml", v2)

    assert "plimsoll-core v2: created (plimsoll-core-v2.yaml)" in load(path)

    versions = Instrument.objects.filter(code="plimsoll-core").order_by("version")
    assert [i.version for i in versions] == [1, 2]
    new = versions[1]
    assert new.pk != core_instrument.pk
    assert new.title["en"] == "Plimsoll core survey, second edition"
    assert new.items.count() == 42
    assert new.domains.count() == 10
    core_instrument.refresh_from_db()
    assert core_instrument.checksum == checksum
    assert core_instrument.items.count() == 42
    campaign.refresh_from_db()
    assert campaign.instrument_id == core_instrument.pk


def test_formatting_only_changes_count_as_unchanged(tmp_path, core_instrument, organization):
    # Used by a campaign, so a change that counted would be refused.
    CampaignFactory(organization=organization, instrument=core_instrument)
    text = SHIPPED_CORE.read_text(encoding="utf-8")
    commented = tmp_path / "commented.yaml"
    commented.write_text(
        "# a comment an author added\n\n" + text.replace("\n", "   \n") + "\n# the end\n",
        encoding="utf-8",
    )
    reshaped = shipped_core()
    reshaped["items"][0]["text"]["en"] = "  " + reshaped["items"][0]["text"]["en"] + "\n"
    reflowed = write(tmp_path / "reflowed.yaml", reshaped, default_flow_style=True, width=60)
    resorted = write(tmp_path / "resorted.yaml", shipped_core(), sort_keys=True)
    assert reflowed.read_text(encoding="utf-8") != text

    for path in (commented, reflowed, resorted):
        output = load(path)
        assert f"plimsoll-core v1: unchanged ({path.name})" in output

    assert row_counts() == (1, 10, 42)


def test_formatting_only_changes_leave_an_unused_version_alone(tmp_path):
    path = write(tmp_path / "small.yaml", small_definition())
    load(path)
    loaded_at = Instrument.objects.get().loaded_at

    write(path, small_definition(), default_flow_style=True, sort_keys=True, indent=4)
    assert "small v1: unchanged (small.yaml)" in load(path)
    assert Instrument.objects.get().loaded_at == loaded_at


def test_key_written_twice_is_an_error_with_its_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("format: 1\ncode: twice\nversion: 1\ncode: again\n", encoding="utf-8")

    with pytest.raises(CommandError) as info:
        load(path)

    message = str(info.value)
    assert str(path) in message
    assert "line 4, column 1" in message
    assert "key 'code' appears twice in one mapping (first on line 2)" in message
    assert row_counts() == (0, 0, 0)


def test_same_version_in_two_files_is_refused(tmp_path):
    write(tmp_path / "a.yaml", small_definition("twin"))
    write(tmp_path / "b.yaml", small_definition("twin"))
    with pytest.raises(CommandError, match="twin v1 is also defined in"):
        load(tmp_path)
    assert row_counts() == (0, 0, 0)
