"""Connector for the learning platform (Moodle), through Moodle's web-service REST protocol.

Finds a person by e-mail, idnumber (the personnummer) or username; exports the
profile, enrolments, grades and assignment submissions with their files; erases
by deleting the user, or, while a grade set in the last six months must be kept
as grading basis, by stripping the profile and reporting the grading basis as
retained until its date.

Configuration:

    [connectors.lms]
    url = "https://lms.example.se"
    token_env = "LMS_TOKEN"          # or token_file = "secrets/lms-token"
    timeout_s = 10
    grading_basis_days = 183         # "at least 6 months after the grade was set"
"""

from __future__ import annotations

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
    NeedsAttention,
    Outcome,
    Removed,
    Retained,
)
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis
from vault.plugins import hookimpl

__version__ = "1.0.0"

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
        self.grading_basis = dt.timedelta(days=int(settings.get("grading_basis_days", 183)))
        self._http = httpx.Client(timeout=float(settings.get("timeout_s", 10)))

    def holdings(self) -> Holdings:
        contract, public = LegalBasis.CONTRACT, LegalBasis.PUBLIC_TASK
        three_years = "3 years after the course ended"
        return Holdings(
            system=self.name,
            description="Learning platform (Moodle): courses, coursework and grading",
            location=str(self.settings.get("location", "SE")),
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
                HeldCategory("student.grading", "Grades", "grading", public, three_years),
                HeldCategory(
                    "student.grading_basis",
                    "Grades and the coursework they rest on, while still grading basis",
                    "grading",
                    LegalBasis.LEGAL_OBLIGATION,
                    "at least 6 months after the grade was set",
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

    def _find(self, identities: list[Identity]) -> list[dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        lookups = []
        for identity in identities:
            if identity.kind is IdentityKind.EMAIL:
                lookups.append(("email", identity.value))
            elif identity.kind is IdentityKind.PERSONNUMMER:
                lookups.append(("idnumber", identity.value))
            elif identity.kind is IdentityKind.EXTERNAL_ID and identity.system == self.name:
                lookups.append(("id" if identity.value.isdigit() else "username", identity.value))
        for field, value in lookups:
            for user in self._call("core_user_get_users_by_field", field=field, values=[value]):
                found[int(user["id"])] = user
        return list(found.values())

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
        return [f"user:{user['id']}" for user in self._find(identities)]

    def export(self, identities: list[Identity]) -> Iterator[ExportItem]:
        for user in self._find(identities):
            user_id = int(user["id"])
            yield ExportItem(
                "contact",
                {k: user.get(k, "") for k in ("fullname", "address", "city", "phone1", "email")},
            )
            if user.get("idnumber"):
                yield ExportItem("identity_number", {"personnummer": user["idnumber"]})
            yield ExportItem(
                "account", {"username": user.get("username", ""), "last_ip": user.get("lastip", "")}
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
                        "graded_on": _date(item.get("gradedategraded")),
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

    def erase(self, identities: list[Identity], today: dt.date) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for user in self._find(identities):
            user_id = int(user["id"])
            grades = self._grades(user_id)
            until = [
                dt.date.fromisoformat(_date(item["gradedategraded"])) + self.grading_basis
                for _, item in grades
                if item.get("gradedategraded")
            ]
            still_basis = [d for d in until if d > today]
            if still_basis:
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
                            "username": f"erased-{user_id}",
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
                    Retained(
                        "student.grading_basis",
                        f"grades still grading basis, and the coursework they rest on: {len(still_basis)}",
                        GRADING_BASIS_REASON,
                        max(still_basis),
                    ),
                ]
            else:
                self._call("core_user_delete_users", userids=[user_id])
                outcomes += [
                    Removed("contact", "user profile deleted"),
                    Removed("identity_number", "personnummer deleted with the profile"),
                    Removed("account", "account deleted"),
                    Removed("student.enrolment", "enrolments deleted"),
                    Removed("student.grading", f"{len(grades)} grades deleted"),
                    Removed("student.coursework", "assignment submissions and their files deleted"),
                ]
        return outcomes

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


def _date(timestamp: Any) -> str:
    return dt.datetime.fromtimestamp(int(timestamp or 0), dt.UTC).date().isoformat()


@hookimpl
def vault_register_connectors(host: Any) -> list[type[Connector]]:
    return [MoodleConnector]
