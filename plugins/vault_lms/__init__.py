"""Connector for the learning platform (Moodle), through Moodle's web-service REST protocol.

Finds a person by e-mail, idnumber (the personnummer) or username; exports the
profile, enrolments, grades and assignment submissions with their files; erases
by deleting the user, or, while a grade set in the last six months must be kept
as grading basis, by stripping the profile and reporting as retained, through
the last day of the grading basis, everything the kept account still holds:
the grading basis, the enrolments and coursework it rests on, older grades
(Moodle's web-service API deletes a grade only with the account) and the
last IP address (no web-service call clears it). Given the references the
vault examined, export and erase reach those users and search for no others.

A grade is grading basis for `grading_basis_months` calendar months after the
day it was set, that day counted in the controller's time zone: a grade set on
1 July is kept through 1 January, one set on 31 August through the last day of
February.

Configuration:

    [connectors.lms]
    url = "https://lms.example.se"
    token_env = "LMS_TOKEN"          # or token_file = "secrets/lms-token"
    timeout_s = 10
    grading_basis_months = 6         # "at least 6 months after the grade was set"
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from vault.connectors import (
    Connector,
    ConnectorSettings,
    ConnectorUnavailable,
    ExportFile,
    ExportItem,
    HealthReport,
    HeldCategory,
    Holdings,
    Identity,
    IdentityKind,
    LegalBasis,
    Match,
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
    SettingsError,
    normal_form,
)
from vault.plugins import hookimpl

__version__ = "1.0.0"

# Why a grade past its grading-basis period is still there: no web-service
# function deletes one user's grade, and the account that holds it must stay.
ATTACHED_GRADE_REASON = (
    "Moodle's web-service API deletes a user's grades only with the account, which stays "
    "while it holds grading basis; the grade is deleted with the account after that"
)
GRADING_BASIS_REASON = (
    "Grading basis is kept at least 6 months after the grade was set (the school's duties as a "
    "grading authority; komvux documentation as the national rules require)"
)


class MoodleConnector(Connector):
    name = "lms"
    version = __version__

    def __init__(self, settings: ConnectorSettings) -> None:
        super().__init__(settings)
        self.url = str(settings.require("url")).rstrip("/")
        self._token = settings.secret("token")
        self.grading_basis_months = _grading_basis_months(settings)
        self.zone = settings.zone
        self._http = httpx.Client(timeout=float(settings.get("timeout_s", 10)))

    def holdings(self) -> Holdings:
        contract = LegalBasis.CONTRACT
        three_years = "3 years after the course ended"
        return Holdings(
            system=self.name,
            description="Learning platform (Moodle): courses, coursework and grading",
            location=str(self.settings.get("location", "SE")),
            identified_by=(IdentityKind.EMAIL, IdentityKind.PERSONNUMMER, IdentityKind.EXTERNAL_ID),
            categories=(
                HeldCategory(
                    "contact",
                    "Name, address, phone and e-mail",
                    "course_delivery",
                    contract,
                    three_years,
                ),
                HeldCategory(
                    "identity_number",
                    "Personnummer (Moodle idnumber)",
                    "course_delivery",
                    contract,
                    three_years,
                ),
                HeldCategory(
                    "account",
                    "Username and last IP address",
                    "platform_access",
                    contract,
                    three_years,
                ),
                HeldCategory(
                    "student.enrolment",
                    "Courses the student is enrolled in",
                    "course_delivery",
                    contract,
                    three_years,
                ),
                # Grading is the school's duty under the rules for the
                # education (the school's purposes: legal obligation).
                HeldCategory(
                    "student.grading", "Grades", "grading", LegalBasis.LEGAL_OBLIGATION, three_years
                ),
                HeldCategory(
                    "student.grading_basis",
                    "Grades and the coursework they rest on, while still grading basis",
                    "grading",
                    LegalBasis.LEGAL_OBLIGATION,
                    f"{self.grading_basis_months} calendar months after the grade was set",
                    erasable=False,
                    legal_reason=GRADING_BASIS_REASON,
                ),
                HeldCategory(
                    "student.coursework",
                    "Assignment submissions, with photos and films of the student and model",
                    "course_delivery",
                    contract,
                    three_years,
                ),
            ),
        )

    # ------------------------------------------------------------ protocol
    def _call(self, function: str, **params: Any) -> Any:
        data = {"wstoken": self._token, "wsfunction": function, "moodlewsrestformat": "json"}
        data.update(_moodle_params(params))
        try:
            response = self._http.post(f"{self.url}/webservice/rest/server.php", data=data)
        except httpx.TransportError as error:
            raise ConnectorUnavailable(f"Moodle unreachable ({type(error).__name__})") from None
        if response.status_code >= 500:
            raise ConnectorUnavailable(f"Moodle answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise NeedsAttention(f"Moodle answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise NeedsAttention("Moodle answered with something that is not JSON") from None
        if isinstance(body, dict) and "exception" in body:
            code = body.get("errorcode", "")
            if code in ("invalidtoken", "accessexception", "servicenotavailable"):
                raise NeedsAttention(f"Moodle refused the web-service token ({code})")
            raise NeedsAttention(f"Moodle error {code}")
        return body

    def _found(
        self, identities: list[Identity]
    ) -> dict[int, tuple[dict[str, Any], list[Identity]]]:
        """Each user the identities lead to, with the identities that found it."""
        found: dict[int, tuple[dict[str, Any], list[Identity]]] = {}
        for identity in identities:
            if identity.kind is IdentityKind.EMAIL:
                field, value = "email", identity.value
            elif identity.kind is IdentityKind.PERSONNUMMER:
                field, value = "idnumber", identity.value
            elif identity.kind is IdentityKind.EXTERNAL_ID and identity.system == self.name:
                field = "id" if identity.value.isdigit() else "username"
                value = identity.value
            else:
                continue
            for user in self._call("core_user_get_users_by_field", field=field, values=[value]):
                found.setdefault(int(user["id"]), (user, []))[1].append(identity)
        return found

    def _find(self, identities: list[Identity]) -> list[dict[str, Any]]:
        return [user for user, _ in self._found(identities).values()]

    def _referenced(self, references: list[str]) -> list[dict[str, Any]]:
        """The users that references from `find()` name; a deleted user is not there."""
        ids = []
        for reference in references:
            kind, _, number = reference.partition(":")
            if kind != "user" or not number.isdigit():
                raise NeedsAttention("a reference kept in the job is not a Moodle user (user:N)")
            ids.append(number)
        if not ids:
            return []
        return list(self._call("core_user_get_users_by_field", field="id", values=ids))

    def _holds(self, user: dict[str, Any]) -> tuple[Identity, ...]:
        held = [
            normal_form(IdentityKind.PERSONNUMMER, user.get("idnumber", "")),
            normal_form(IdentityKind.EMAIL, user.get("email", "")),
            normal_form(IdentityKind.PHONE, user.get("phone1", "")),
            normal_form(IdentityKind.EXTERNAL_ID, str(user["id"]), self.name),
            # A person may be known to the vault by username rather than id.
            normal_form(IdentityKind.EXTERNAL_ID, user.get("username", ""), self.name),
        ]
        return tuple(identity for identity in held if identity is not None)

    def _graded_on(self, timestamp: Any) -> dt.date:
        """The day a grade was set, in the controller's time zone (Moodle keeps epoch seconds)."""
        return dt.datetime.fromtimestamp(int(timestamp or 0), self.zone).date()

    def _last_day_kept(self, graded_on: dt.date) -> dt.date:
        return _months_after(graded_on, self.grading_basis_months)

    def _grades(self, user_id: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        grades = []
        for course in self._call("core_enrol_get_users_courses", userid=user_id):
            report = self._call(
                "gradereport_user_get_grade_items", courseid=course["id"], userid=user_id
            )
            for usergrade in report.get("usergrades", []):
                grades += [(course, item) for item in usergrade.get("gradeitems", [])]
        return grades

    def _submissions(self, user_id: int, course_ids: list[int]) -> list[dict[str, Any]]:
        if not course_ids:
            return []
        assignments = self._call("mod_assign_get_assignments", courseids=course_ids)
        ids = [
            a["id"]
            for course in assignments.get("courses", [])
            for a in course.get("assignments", [])
        ]
        if not ids:
            return []
        result = self._call("mod_assign_get_submissions", assignmentids=ids)
        return [
            dict(sub, assignmentid=a["assignmentid"])
            for a in result.get("assignments", [])
            for sub in a.get("submissions", [])
            if int(sub["userid"]) == user_id
        ]

    def _download(self, url: str) -> bytes:
        try:
            response = self._http.get(url, params={"token": self._token})
        except httpx.TransportError as error:
            raise ConnectorUnavailable(
                f"Moodle file download failed ({type(error).__name__})"
            ) from None
        if response.status_code != 200:
            raise ConnectorUnavailable(f"Moodle file download answered HTTP {response.status_code}")
        return response.content

    # ------------------------------------------------------------ contract
    def find(self, identities: list[Identity]) -> list[str]:
        return [f"user:{user_id}" for user_id in self._found(identities)]

    def match(self, identities: list[Identity]) -> list[Match]:
        return [
            Match(f"user:{user_id}", tuple(found_by), self._holds(user))
            for user_id, (user, found_by) in self._found(identities).items()
        ]

    def export(
        self, identities: list[Identity], references: list[str] | None = None
    ) -> Iterator[ExportItem]:
        # With references, the users the vault examined, and no new search.
        users = self._find(identities) if references is None else self._referenced(references)
        for user in users:
            user_id = int(user["id"])
            if user.get("username") == _stripped_username(user_id):
                # Kept for its grading basis: the profile holds the person no more,
                # the last IP address (which no web-service call clears) still does.
                if user.get("lastip"):
                    yield ExportItem("account", {"last_ip": user["lastip"]})
            else:
                yield ExportItem(
                    "contact",
                    {
                        k: user.get(k, "")
                        for k in ("fullname", "address", "city", "phone1", "email")
                    },
                )
                if user.get("idnumber"):
                    yield ExportItem("identity_number", {"personnummer": user["idnumber"]})
                yield ExportItem(
                    "account",
                    {"username": user.get("username", ""), "last_ip": user.get("lastip", "")},
                )
            courses = self._call("core_enrol_get_users_courses", userid=user_id)
            for course in courses:
                yield ExportItem(
                    "student.enrolment",
                    {
                        "course": course.get("fullname", ""),
                        "shortname": course.get("shortname", ""),
                    },
                )
            for course, item in self._grades(user_id):
                yield ExportItem(
                    "student.grading",
                    {
                        "course": course.get("fullname", ""),
                        "item": item.get("itemname", ""),
                        "grade": item.get("gradeformatted", ""),
                        "graded_on": self._graded_on(item.get("gradedategraded")).isoformat(),
                    },
                )
            for submission in self._submissions(user_id, [int(c["id"]) for c in courses]):
                files = []
                for plugin in submission.get("plugins", []):
                    for area in plugin.get("fileareas", []):
                        for file in area.get("files", []):
                            files.append(
                                ExportFile(
                                    file["filename"],
                                    file.get("mimetype", "application/octet-stream"),
                                    self._download(file["fileurl"]),
                                )
                            )
                yield ExportItem(
                    "student.coursework",
                    {
                        "assignment": submission["assignmentid"],
                        "status": submission.get("status", ""),
                    },
                    tuple(files),
                )

    def erase(
        self, identities: list[Identity], today: dt.date, references: list[str] | None = None
    ) -> list[Outcome]:
        # On a re-run the identities may find nobody: the first attempt blanked
        # them on a profile it kept. The references from the first attempt
        # still reach that profile, so its grading basis is reported again.
        users = self._find(identities) if references is None else self._referenced(references)
        outcomes: list[Outcome] = []
        for user in users:
            outcomes += self._erase_user(user, today)
        return outcomes

    def _erase_user(self, user: dict[str, Any], today: dt.date) -> list[Outcome]:
        user_id = int(user["id"])
        grades = self._grades(user_id)
        last_days = [
            self._last_day_kept(self._graded_on(item["gradedategraded"]))
            for _, item in grades
            if item.get("gradedategraded")
        ]
        still_basis = [day for day in last_days if day >= today]
        # An earlier attempt already took the profile's identifying data.
        stripped = user.get("username") == _stripped_username(user_id)
        outcomes: list[Outcome] = []
        if still_basis:
            if not stripped:
                # The account must stay so the grading basis stays attached to
                # it; everything else that identifies the person goes.
                self._call(
                    "core_user_update_users",
                    users=[
                        {
                            "id": user_id,
                            "firstname": "Erased",
                            "lastname": f"user {user_id}",
                            "email": f"erased-{user_id}@invalid.example",
                            "username": _stripped_username(user_id),
                            "idnumber": "",
                            "address": "",
                            "phone1": "",
                            "city": "",
                        }
                    ],
                )
                outcomes += [
                    Removed("contact", "name, address, phone and e-mail removed from the profile"),
                    Removed("identity_number", "personnummer removed from the profile"),
                    Removed("account", "username replaced"),
                ]
            return outcomes + self._kept_with_the_grading_basis(user, grades, still_basis, today)
        self._call("core_user_delete_users", userids=[user_id])
        if not stripped:
            outcomes += [
                Removed("contact", "user profile deleted"),
                Removed("identity_number", "personnummer deleted with the profile"),
            ]
        return [
            *outcomes,
            Removed("account", "account deleted"),
            Removed("student.enrolment", "enrolments deleted"),
            Removed("student.grading", f"{_count(len(grades), 'grade', 'grades')} deleted"),
            Removed("student.coursework", "assignment submissions and their files deleted"),
        ]

    def _kept_with_the_grading_basis(
        self,
        user: dict[str, Any],
        grades: list[tuple[dict[str, Any], dict[str, Any]]],
        still_basis: list[dt.date],
        today: dt.date,
    ) -> list[Outcome]:
        """Everything the account still holds while it keeps grading basis, each
        reported kept through the day the last grading basis goes: then the whole
        account is deleted. Reported alike on every attempt."""
        user_id, until = int(user["id"]), max(still_basis)
        courses = self._call("core_enrol_get_users_courses", userid=user_id)
        submissions = self._submissions(user_id, [int(c["id"]) for c in courses])
        past = [
            item
            for _, item in grades
            if item.get("gradedategraded")
            and self._last_day_kept(self._graded_on(item["gradedategraded"])) < today
        ]
        # No web-service function clears lastip, and the account must stay.
        account = "the account the grading basis is attached to"
        if user.get("lastip"):
            account += ", with its last IP address, which the web-service API cannot clear"
        kept: list[Outcome] = [Retained("account", account, GRADING_BASIS_REASON, until)]
        if courses:
            kept.append(
                Retained(
                    "student.enrolment",
                    f"enrolments the grading basis is attached to: {len(courses)}",
                    GRADING_BASIS_REASON,
                    until,
                )
            )
        kept.append(
            Retained(
                "student.grading_basis",
                f"grades still grading basis: {len(still_basis)}",
                GRADING_BASIS_REASON,
                until,
            )
        )
        if past:
            kept.append(
                Retained(
                    "student.grading",
                    f"grades past their grading-basis period: {len(past)}",
                    ATTACHED_GRADE_REASON,
                    until,
                )
            )
        if submissions:
            kept.append(
                Retained(
                    "student.coursework",
                    f"assignment submissions the grading basis rests on: {len(submissions)}",
                    GRADING_BASIS_REASON,
                    until,
                )
            )
        return kept

    def health(self) -> HealthReport:
        try:
            info = self._call("core_webservice_get_site_info")
        except (ConnectorUnavailable, NeedsAttention) as error:
            return HealthReport(False, str(error))
        return HealthReport(True, f"Moodle {info.get('release', '?')}")

    def close(self) -> None:
        self._http.close()


def _moodle_params(params: Mapping[Any, Any], prefix: str = "") -> dict[str, str]:
    """Moodle's array notation: {"values": ["a"]} -> {"values[0]": "a"}."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_moodle_params(value, name))
        elif isinstance(value, list | tuple):
            flat.update(_moodle_params(dict(enumerate(value)), name))
        else:
            flat[name] = str(value)
    return flat


def _stripped_username(user_id: int) -> str:
    return f"erased-{user_id}"


def _months_after(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later; the month's last day when it has no such day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _grading_basis_months(settings: ConnectorSettings) -> int:
    if "grading_basis_days" in settings.values:
        # A count of days fell short of "6 months" (1 July + 183 days is 31
        # December), so the old setting is refused rather than read.
        raise SettingsError(
            f"connector {settings.name}: grading_basis_days is no longer read; the grading "
            "basis is counted in calendar months: set grading_basis_months (6 for "
            '"at least 6 months after the grade was set")'
        )
    months = settings.get("grading_basis_months", 6)
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise SettingsError(
            f"connector {settings.name}: grading_basis_months must be a whole number of months, 1 or more"
        )
    return months


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@hookimpl
def vault_register_connectors(host: Any) -> list[type[Connector]]:
    return [MoodleConnector]
