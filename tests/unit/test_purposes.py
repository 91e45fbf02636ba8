"""The catalogue of purposes, built from a mapping (the parsed TOML): every
mistake in it one PurposesError naming its key; a record's purpose and legal
basis checked against it; which purposes are compatible, and which a system
processes for. And the school's file, the shipped default, has every purpose
the issue names, on its basis."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vault import purposes_file
from vault.core.consent.purposes import Purposes, PurposesError
from vault.core.errors import InvalidArgument
from vault.core.model import LegalBasis


def _config() -> dict[str, Any]:
    """Three purposes: two on contract for the LMS, one on consent for the website."""
    return {
        "purposes": {
            "course_delivery": {
                "description": {"sv": "Genomföra utbildningen", "en": "Delivering the course"},
                "legal_basis": "contract",
                "categories": ["contact", "student.enrolment"],
                "systems": ["lms"],
                "compatible_with": ["grading"],
            },
            "grading": {
                "description": {"en": "Grading"},
                "legal_basis": "legal_obligation",
                "categories": ["student.grading"],
                "systems": ["lms"],
            },
            "marketing_email": {
                "description": {"en": "Marketing by e-mail"},
                "legal_basis": "consent",
                "categories": ["contact", "marketing"],
                "systems": ["website", "vault"],
                "material_changes": False,
            },
        }
    }


def _with(name: str, **changes: Any) -> dict[str, Any]:
    """The three purposes, with `name`'s table changed (a value of None: the key removed)."""
    config = copy.deepcopy(_config())
    table = config["purposes"].setdefault(name, {})
    for key, value in changes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return config


def test_a_catalogue_from_a_mapping_holds_each_purpose_as_configured() -> None:
    purposes = Purposes.from_mapping(_config())
    assert [p.name for p in purposes] == ["course_delivery", "grading", "marketing_email"]
    assert len(purposes) == 3 and "grading" in purposes and "teaching" not in purposes
    course = purposes.get("course_delivery")
    assert course is not None
    assert course.legal_basis is LegalBasis.CONTRACT and not course.rests_on_consent
    assert course.categories == ("contact", "student.enrolment")
    assert course.systems == ("lms",)
    assert course.compatible_with == ("grading",)
    assert course.material_changes  # unless the file says otherwise
    assert course.described("sv") == "Genomföra utbildningen"
    assert course.described("de") == "Delivering the course"  # English, when the language lacks
    marketing = purposes.get("marketing_email")
    assert marketing is not None and marketing.rests_on_consent and not marketing.material_changes
    assert [p.name for p in purposes.consent_based()] == ["marketing_email"]
    assert purposes.get("teaching") is None


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({}, "no [purposes.NAME] tables"),
        ({"purposes": {}}, "no [purposes.NAME] tables"),
        ({"purposes": "course_delivery"}, "no [purposes.NAME] tables"),
        (_with("Course Delivery"), "[purposes.Course Delivery]: the name"),
        ({"purposes": {"grading": "legal_obligation"}}, "[purposes.grading] must be a table"),
        (_with("grading", colour="blue"), "[purposes.grading]: unknown key colour"),
        (_with("grading", description=None), "[purposes.grading]: description must be a table"),
        (_with("grading", description="Grading"), "[purposes.grading]: description must be"),
        (_with("grading", description={"en": " "}), "[purposes.grading]: description.en must be"),
        (_with("grading", legal_basis="duty"), "[purposes.grading]: legal_basis must be one of"),
        (_with("grading", legal_basis=None), "[purposes.grading]: legal_basis must be one of"),
        (
            _with("grading", special_category_condition="k"),
            "[purposes.grading]: special_category_condition must be a letter of GDPR art. 9(2)",
        ),
        (
            _with("grading", material_changes="yes"),
            "[purposes.grading]: material_changes must be true or false",
        ),
        (_with("grading", categories=[]), "[purposes.grading]: categories must name at least one"),
        (_with("grading", categories=None), "[purposes.grading]: categories must name at least"),
        (_with("grading", categories="student.grading"), "[purposes.grading]: categories must be"),
        (_with("grading", categories=["Grades"]), "[purposes.grading]: categories: 'Grades'"),
        (_with("grading", systems=[]), "[purposes.grading]: systems must name at least one"),
        (_with("grading", systems=["LMS"]), "[purposes.grading]: systems: 'LMS'"),
        (
            _with("grading", compatible_with=["statistics"]),
            "[purposes.grading] compatible_with names statistics, which is not configured",
        ),
        (
            _with("grading", compatible_with=["Stats"]),
            "[purposes.grading]: compatible_with: 'Stats'",
        ),
    ],
)
def test_every_mistake_is_one_purposes_error_naming_its_key(
    config: dict[str, Any], named: str
) -> None:
    with pytest.raises(PurposesError) as refused:
        Purposes.from_mapping(config, "school.toml")
    message = str(refused.value)
    assert message.startswith(f"school.toml: {named}"), message
    assert "\n" not in message


def test_an_art_9_condition_is_kept_by_its_letter() -> None:
    purposes = Purposes.from_mapping(_with("grading", special_category_condition="g"))
    grading = purposes.get("grading")
    assert grading is not None and grading.special_category_condition == "g"


def test_a_records_purpose_must_be_configured_and_its_basis_the_purposes() -> None:
    purposes = Purposes.from_mapping(_config())
    assert purposes.check_record("grading", LegalBasis.LEGAL_OBLIGATION).name == "grading"
    with pytest.raises(InvalidArgument) as unknown:
        purposes.check_record("teaching", LegalBasis.CONTRACT)
    assert unknown.value.field == "record.purpose"
    assert "teaching is not a configured purpose" in unknown.value.rule
    with pytest.raises(InvalidArgument) as contradicting:
        purposes.check_record("grading", LegalBasis.PUBLIC_TASK)
    assert contradicting.value.field == "record.legal_basis"
    assert contradicting.value.rule == (
        "purpose grading rests on legal obligation (GDPR art. 6(1)(c)), "
        "not public task (GDPR art. 6(1)(e))"
    )
    # A purpose that is not even a purpose's name names the field too.
    with pytest.raises(InvalidArgument) as malformed:
        purposes.check_record("", LegalBasis.CONTRACT)
    assert malformed.value.field == "record.purpose"
    # The field is named where the record stands in the request.
    with pytest.raises(InvalidArgument) as nested:
        purposes.check_record("marketing_email", LegalBasis.CONTRACT, "subjects[0].records[2]")
    assert nested.value.field == "subjects[0].records[2].legal_basis"


def test_compatible_purposes_are_the_purpose_itself_and_those_it_lists() -> None:
    purposes = Purposes.from_mapping(_config())
    assert purposes.compatible("course_delivery", "course_delivery")
    assert purposes.compatible("course_delivery", "grading")
    assert not purposes.compatible("grading", "course_delivery")  # art. 6(4) is one way
    assert not purposes.compatible("course_delivery", "marketing_email")
    assert not purposes.compatible("teaching", "grading")  # nothing is held for no purpose


def test_each_system_processes_for_the_purposes_that_name_it() -> None:
    purposes = Purposes.from_mapping(_config())
    assert purposes.for_system("lms") == {"course_delivery", "grading"}
    assert purposes.for_system("website") == {"marketing_email"}
    assert purposes.for_system("salon") == frozenset()
    assert purposes.systems() == {
        "lms": frozenset({"course_delivery", "grading"}),
        "vault": frozenset({"marketing_email"}),
        "website": frozenset({"marketing_email"}),
    }


# The purposes the issue asks the school's configuration for, each on the
# basis DOMAIN.md gives it.
SCHOOL = {
    LegalBasis.CONTRACT: [
        "course_delivery",
        "platform_access",
        "distance_assignment",
        "salon_booking",
        "salon_scheduling",
        "billing",
        "credit_check",
    ],
    LegalBasis.LEGAL_OBLIGATION: ["bookkeeping", "grading", "komvux_documentation"],
    LegalBasis.LEGITIMATE_INTEREST: ["statistics", "alumni_offers", "internship_followup"],
    LegalBasis.CONSENT: [
        "marketing_post",
        "marketing_email",
        "marketing_sms",
        "customer_surveys",
        "course_application",
        "model_bank",
    ],
}


def test_the_schools_file_has_every_purpose_of_its_policy_on_its_basis() -> None:
    school = purposes_file.school()
    for basis, names in SCHOOL.items():
        for name in names:
            assert school.check_record(name, basis).legal_basis is basis
    komvux = school.get("komvux_documentation")
    assert komvux is not None
    assert {"student.study_plan", "student.grading_basis", "student.internship"} <= set(
        komvux.categories
    )
    # Every purpose speaks Swedish and English.
    assert all({"sv", "en"} <= set(p.description) for p in school)
