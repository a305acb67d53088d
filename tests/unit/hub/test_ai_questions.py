"""Plain-words questions to structured filters by rules over the tenant's own names: projects, sample types,
containers, states, barcode prefixes; names the lab does not have are reported, never guessed."""

from __future__ import annotations

import pytest

from hub.ai.questions import Vocabulary, understand

WORDS = Vocabulary(
    projects={"P-17": "proj-17", "ONCO": "proj-onco"},
    sample_types={"Plasma": "type-plasma", "DNA": "type-dna"},
    containers={"F3": "unit-f3", "Freezer F12": "unit-f12", "Box 7": "box-7"},
)


def test_samples_of_a_project_in_a_freezer_become_a_contents_filter() -> None:
    found = understand("Which samples from project X are in freezer F3?".replace("X", "P-17"), WORDS)
    assert found.resource == "storage_contents"
    assert found.filters == {"container": "F3", "project": "P-17"}
    assert found.ids == {"container_id": "unit-f3", "project_id": "proj-17"}
    assert not found.unknown


@pytest.mark.parametrize(
    ("question", "filters"),
    [
        ("plasma samples on hold", {"sample_type": "Plasma", "states": ["on_hold"]}),
        ("received DNA samples from project onco", {"project": "ONCO", "sample_type": "DNA", "states": ["received"]}),
        ("samples with barcode starting with S-2024", {"barcode_prefix": "S-2024"}),
        ("ONCO samples named tumour biopsy", {"project": "ONCO", "name_contains": "tumour biopsy"}),
        ("what is stored in Box 7?", {"container": "Box 7"}),
        ("DNA in the Freezer F12", {"container": "Freezer F12", "sample_type": "DNA"}),
    ],
)
def test_questions_become_filters(question: str, filters: dict[str, object]) -> None:
    assert understand(question, WORDS).filters == filters


def test_unknown_names_are_reported_not_guessed() -> None:
    found = understand("which samples from project ZZZ are in freezer F99?", WORDS)
    assert found.unknown == ["no storage container named 'F99'", "no project 'ZZZ'"]
    assert "project" not in found.filters


def test_a_question_with_nothing_known_has_no_filters() -> None:
    assert understand("how is the weather today", WORDS).filters == {}
