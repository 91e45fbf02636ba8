"""A stand-in Moodle: the web-service REST protocol (`/webservice/rest/server.php`).

Requests are form-encoded POSTs with `wstoken`, `wsfunction`,
`moodlewsrestformat=json` and the function's parameters in Moodle's array
notation (`values[0]=...`, `users[0][id]=...`). Errors come back as HTTP 200
with an `exception` object, as Moodle does. Submission files are downloaded
from `/webservice/pluginfile.php/...?token=...`.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlparse

from vault_standins.httpserver import JSONHandler, StandInServer
from vault_standins.people import Person

PHOTO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f00f0004850180848c9921"
    "0000000049454e44ae426082"
)


@dataclass
class MoodleState:
    token: str
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    courses: dict[int, dict[str, Any]] = field(default_factory=dict)
    enrolments: dict[int, list[int]] = field(default_factory=dict)
    grades: dict[tuple[int, int], list[dict[str, Any]]] = field(default_factory=dict)
    assignments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    submissions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Knobs for failure tests: seconds to stall every call, and whether to refuse.
    delay: float = 0.0
    down: bool = False
    calls: int = 0

    def add_person(self, person: Person) -> int:
        with self.lock:
            # From 1001, so the demo's first LMS user (Anna) has the id the vault holds for her.
            user_id = 1001 + len(self.users)
            while user_id in self.users:
                user_id += 1
            self.users[user_id] = {
                "id": user_id,
                "username": person.email.split("@")[0],
                "firstname": person.first,
                "lastname": person.last,
                "fullname": person.name,
                "email": person.email,
                "idnumber": person.personnummer,
                "address": person.address,
                "phone1": person.phone,
                "city": "Malmö",
                "country": "SE",
                "lastip": "192.0.2.10",
            }
            course_id = 1
            self.courses.setdefault(
                course_id, {"id": 1, "shortname": "HF1", "fullname": "Hårfärgning 1"}
            )
            self.enrolments[user_id] = [course_id]
            self.grades[course_id, user_id] = [
                {
                    "id": 10 + i,
                    "itemname": f"Uppgift {i + 1}",
                    "graderaw": 4.0,
                    "gradeformatted": "B",
                    "gradedategraded": int(
                        dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()
                    ),
                }
                for i, d in enumerate(person.grade_dates)
            ]
            assignment = {"id": 501, "name": "Uppsättning 3 (distans)"}
            self.assignments.setdefault(course_id, [assignment])
            path = f"/1/assignsubmission_file/submission_files/{user_id}/uppsattning-3.png"
            self.files[path] = PHOTO
            self.submissions.setdefault(501, []).append(
                {
                    "userid": user_id,
                    "status": "submitted",
                    "timemodified": 1760000000,
                    "files": [path],
                }
            )
            return user_id

    def user_id(self, email: str) -> int:
        with self.lock:
            return next(u["id"] for u in self.users.values() if u["email"] == email)

    def set_grade_times(self, user_id: int, *graded_at: dt.datetime) -> None:
        """Replace the user's grades by one per moment, stored as Moodle does: epoch seconds."""
        with self.lock:
            for course_id in self.enrolments.get(user_id, []):
                self.grades[course_id, user_id] = [
                    {
                        "id": 10 + i,
                        "itemname": f"Uppgift {i + 1}",
                        "graderaw": 4.0,
                        "gradeformatted": "B",
                        "gradedategraded": int(moment.timestamp()),
                    }
                    for i, moment in enumerate(graded_at)
                ]

    def user_holds_anything(self, email: str) -> bool:
        with self.lock:
            return any(u["email"] == email for u in self.users.values())


class MoodleError(Exception):
    def __init__(self, errorcode: str, message: str, exception: str = "moodle_exception") -> None:
        super().__init__(message)
        self.errorcode, self.message, self.exception = errorcode, message, exception


def parse_moodle_params(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Moodle's array notation into nested dicts and lists: `a[0][b]=1` -> {"a": [{"b": "1"}]}."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


class MoodleHandler(JSONHandler):
    def do_POST(self) -> None:
        state: MoodleState = self.server.state
        if urlparse(self.path).path != "/webservice/rest/server.php":
            self.send_json(404, {"error": "not found"})
            return
        if state.delay:
            time.sleep(state.delay)
        if state.down:
            self.send_json(503, {"error": "maintenance"})
            return
        params = parse_moodle_params(parse_qsl(self.read_body().decode(), keep_blank_values=True))
        state.calls += 1
        try:
            if params.get("wstoken") != state.token:
                raise MoodleError(
                    "invalidtoken", "Invalid token - token not found", "moodle_exception"
                )
            function = params.get("wsfunction", "")
            handler = getattr(self, f"fn_{function}", None)
            if handler is None:
                raise MoodleError(
                    "invalidrecord", "Can't find data record in database table external_functions."
                )
            with state.lock:
                result = handler(state, params)
        except MoodleError as error:
            self.send_json(
                200,
                {
                    "exception": error.exception,
                    "errorcode": error.errorcode,
                    "message": error.message,
                },
            )
            return
        self.send_json(200, result)

    def do_GET(self) -> None:
        state: MoodleState = self.server.state
        parsed = urlparse(self.path)
        query = dict(parse_qsl(parsed.query))
        prefix = "/webservice/pluginfile.php"
        if not parsed.path.startswith(prefix) or query.get("token") != state.token:
            self.send_json(403, {"error": "forbidden"})
            return
        data = state.files.get(parsed.path[len(prefix) :])
        if data is None:
            self.send_json(404, {"error": "file not found"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # ---------------------------------------------------------- functions
    def fn_core_webservice_get_site_info(self, state: MoodleState, params: dict[str, Any]) -> Any:
        return {"sitename": "Leep lärplattform (stand-in)", "release": "4.3+", "userid": 2}

    def fn_core_user_get_users_by_field(self, state: MoodleState, params: dict[str, Any]) -> Any:
        field_name = params.get("field")
        if field_name not in ("id", "idnumber", "username", "email"):
            raise MoodleError("invalidparameter", "Invalid parameter value detected")
        wanted = {
            str(v).lower() if field_name == "email" else str(v) for v in params.get("values", [])
        }
        return [
            dict(user)
            for user in state.users.values()
            if (str(user[field_name]).lower() if field_name == "email" else str(user[field_name]))
            in wanted
        ]

    def fn_core_enrol_get_users_courses(self, state: MoodleState, params: dict[str, Any]) -> Any:
        user_id = int(params["userid"])
        return [dict(state.courses[c]) for c in state.enrolments.get(user_id, [])]

    def fn_gradereport_user_get_grade_items(
        self, state: MoodleState, params: dict[str, Any]
    ) -> Any:
        course_id, user_id = int(params["courseid"]), int(params["userid"])
        items = state.grades.get((course_id, user_id), [])
        return {
            "usergrades": [
                {"courseid": course_id, "userid": user_id, "gradeitems": [dict(i) for i in items]}
            ]
        }

    def fn_mod_assign_get_assignments(self, state: MoodleState, params: dict[str, Any]) -> Any:
        ids = [int(c) for c in params.get("courseids", [])]
        return {"courses": [{"id": c, "assignments": state.assignments.get(c, [])} for c in ids]}

    def fn_mod_assign_get_submissions(self, state: MoodleState, params: dict[str, Any]) -> Any:
        base = f"{self.server.url}/webservice/pluginfile.php"
        result = []
        for assignment_id in [int(a) for a in params.get("assignmentids", [])]:
            submissions = []
            for sub in state.submissions.get(assignment_id, []):
                files = [
                    {
                        "filename": path.rsplit("/", 1)[1],
                        "mimetype": "image/png",
                        "filesize": len(state.files.get(path, b"")),
                        "fileurl": base + path,
                    }
                    for path in sub["files"]
                    if path in state.files
                ]
                submissions.append(
                    {
                        "userid": sub["userid"],
                        "status": sub["status"],
                        "timemodified": sub["timemodified"],
                        "plugins": [
                            {
                                "type": "file",
                                "fileareas": [{"area": "submission_files", "files": files}],
                            }
                        ],
                    }
                )
            result.append({"assignmentid": assignment_id, "submissions": submissions})
        return {"assignments": result, "warnings": []}

    def fn_core_user_update_users(self, state: MoodleState, params: dict[str, Any]) -> Any:
        for change in params.get("users", []):
            user = state.users.get(int(change["id"]))
            if user is None:
                raise MoodleError("invaliduser", "Invalid user")
            user.update({k: v for k, v in change.items() if k != "id"})
            user["fullname"] = f"{user['firstname']} {user['lastname']}"
        return None

    def fn_core_user_delete_users(self, state: MoodleState, params: dict[str, Any]) -> Any:
        for raw in params.get("userids", []):
            user_id = int(raw)
            if user_id not in state.users:
                raise MoodleError("invaliduser", "Invalid user")
            del state.users[user_id]
            for course_id in state.enrolments.pop(user_id, []):
                state.grades.pop((course_id, user_id), None)
            for subs in state.submissions.values():
                for sub in [s for s in subs if s["userid"] == user_id]:
                    for path in sub["files"]:
                        state.files.pop(path, None)
                    subs.remove(sub)
        return None


def start(
    token: str, people: Iterable[Person] = (), port: int = 0
) -> tuple[StandInServer, MoodleState]:
    state = MoodleState(token)
    for person in people:
        if person.lms:
            state.add_person(person)
    return StandInServer(MoodleHandler, state, port).start(), state
