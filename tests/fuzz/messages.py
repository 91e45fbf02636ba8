"""Hypothesis strategies for any request of the API, built from its protobuf
descriptors alone, so a new RPC or field is fuzzed without a line more.

Strings lean on the field's name where the API's names say what a string is
(a `name` or `parent` gets resource names, a `request_id` ids that repeat, a
`category` the taxonomy's words), and draw on a pool of names the fuzz has
met in answers, so requests reach real subjects, records and erasure
requests and not only the parser. Every field still gets junk too: unknown
enum values, boundary integers, unicode, very long text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

Strategy = st.SearchStrategy[Any]

# A name the vault hands out: subjects, their records, erasure requests and
# their steps and manual actions, tokens.
RESOURCE_NAME = re.compile(r"(subjects|erasureRequests|tokens)/\S+")
MAX_DEPTH = 3  # nested messages deeper than this are left empty

_HEX = "0123456789abcdef"
_TOKEN_ID = "abcdefghijklmnopqrstuvwxyz234567"


class Names:
    """The resource names the fuzz has met in answers, which requests may
    name again. Names holding a forbidden id (the sentinel subject's, the
    harness's own tokens') are never kept, so no request can name them."""

    def __init__(self, forbidden: Iterable[str] = ()) -> None:
        self.forbidden = tuple(forbidden)
        self.seen: list[str] = []

    def learn(self, message: Message) -> None:
        """Keep every resource name anywhere in `message`."""
        for field, value in message.ListFields():
            values = value if _repeated(field) else [value]
            if field.type == FieldDescriptor.TYPE_STRING:
                for text in values:
                    self._keep(text)
            elif field.type == FieldDescriptor.TYPE_MESSAGE and not _is_map(field):
                for nested in values:
                    self.learn(nested)

    def _keep(self, text: str) -> None:
        if not RESOURCE_NAME.fullmatch(text) or text in self.seen:
            return
        if any(forbidden in text for forbidden in self.forbidden):
            return
        self.seen.append(text)


def _repeated(field: FieldDescriptor) -> bool:
    return field.label == FieldDescriptor.LABEL_REPEATED


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


# ------------------------------------------------------------- strings
def _hex(size: int) -> Strategy:
    return st.text(_HEX, min_size=size, max_size=size)


JUNK_TEXT = st.one_of(
    st.just(""),
    st.text(max_size=40),
    # Control, format and combining characters, right-to-left overrides, NUL.
    st.text(st.sampled_from("\x00\x1b\u202e\u200b\u0301\ufeff\n\t /\\%'\"é漢🙂"), max_size=20),
    # Very long: past every length limit the API states.
    st.builds(
        lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(100, 3000)
    ),
)

WORDS = st.one_of(
    st.sampled_from(
        [
            "contact",
            "notes",
            "student.grading",
            "course_delivery",
            "salon_booking",
            "accounting",
            "lms",
            "salon",
            "student",
            "salon_customer",
            "Student!",
            "a..b",
            "_x",
            "x" * 65,
        ]
    ),
    st.from_regex(r"[a-z][a-z0-9_]{0,15}(\.[a-z][a-z0-9_]{0,8})?", fullmatch=True),
)

IDENTITY_VALUES = st.one_of(
    # Valid personnummer, in several written forms, and invalid ones.
    st.sampled_from(
        [
            "811218-9876",
            "198112189876",
            "19850312-1231",
            "850312+1231",
            "811218-9877",
            "000000-0000",
        ]
    ),
    # A small space of e-mails and phones, so identities collide (IDENTITY_IN_USE).
    st.builds("fuzz{}@example.se".format, st.integers(0, 9)),
    st.builds("FUZZ{}@Example.SE".format, st.integers(0, 9)),
    st.builds("+4670{:07d}".format, st.integers(0, 9)),
    st.sampled_from(["070-123 45 67", "not a phone", "@", "a@b", "7001"]),
)

REQUEST_IDS = st.one_of(
    # Few enough that ids repeat across calls and methods (REQUEST_ID_REUSED).
    st.sampled_from(["", "", "r1", "r2", "import:1", "bad id", "x" * 65, "-starts-with-dash"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True),
)

PEOPLE = st.one_of(
    st.sampled_from(["dpo@school.se", "Anna Admin", ""]),
    JUNK_TEXT,
)

MEDIA_TYPES = st.sampled_from(["image/jpeg", "application/pdf", "text/plain", "image", "a/b/c", ""])


def _made_up_names() -> Strategy:
    subject = st.builds("subjects/{}".format, _hex(32))
    return st.one_of(
        subject,
        st.builds("{}/records/{}".format, subject, _hex(32)),
        st.builds("erasureRequests/{}".format, _hex(32)),
        st.builds("erasureRequests/{}/steps/{}".format, _hex(32), WORDS),
        st.builds("erasureRequests/{}/manualActions/{}".format, _hex(32), _hex(32)),
        st.builds("tokens/{}".format, st.text(_TOKEN_ID, min_size=12, max_size=12)),
        st.sampled_from(
            ["subjects/", "subjects", "subjects//records/x", "people/abc", "subjects/../x", "/"]
        ),
        st.builds("subjects/{}".format, JUNK_TEXT),
    )


def resource_names(names: Names) -> Strategy:
    """Names the fuzz met (as they are and bent), and made-up ones."""

    @st.composite
    def met(draw: Callable[[Strategy], Any]) -> str:
        if not names.seen:
            return str(draw(_made_up_names()))
        name = names.seen[draw(st.integers(0, len(names.seen) - 1))]
        bend = draw(st.sampled_from(["as is", "as is", "as is", "child", "upper", "trailing"]))
        if bend == "child":
            child = draw(st.sampled_from(["records", "steps", "manualActions"]))
            return f"{name}/{child}/{draw(st.one_of(_hex(32), WORDS))}"
        if bend == "upper":
            return name.upper()
        if bend == "trailing":
            return name + draw(st.sampled_from(["/", " ", "\x00", "/records/"]))
        return name

    return st.one_of(met(), met(), _made_up_names())


def _string(field: FieldDescriptor, names: Names) -> Strategy:
    """A strategy for a string field, by what the API's field names say it holds."""
    by_name: dict[str, Strategy] = {
        "name": resource_names(names),
        "parent": resource_names(names),
        "subject": resource_names(names),
        "request_id": REQUEST_IDS,
        "category": WORDS,
        "purpose": WORDS,
        "source_system": WORDS,
        "system": WORDS,
        "roles": WORDS,
        "same_person_systems": WORDS,
        "value": IDENTITY_VALUES,
        "decided_by": PEOPLE,
        "confirmed_by": PEOPLE,
        "display_name": PEOPLE,
        "media_type": MEDIA_TYPES,
        "page_token": st.one_of(st.just(""), st.text(_HEX + "=-_ABCDEFGH", max_size=60)),
    }
    fitting = by_name.get(field.name)
    return JUNK_TEXT if fitting is None else st.one_of(fitting, fitting, JUNK_TEXT)


# ------------------------------------------------------------ scalars
def _integers(bits: int, signed: bool) -> Strategy:
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    edges = [
        value for value in (0, 1, -1, 2, 10, 100, 1000, 10**6, low, high) if low <= value <= high
    ]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


_SCALARS: dict[int, Strategy] = {
    FieldDescriptor.TYPE_INT32: _integers(32, signed=True),
    FieldDescriptor.TYPE_SINT32: _integers(32, signed=True),
    FieldDescriptor.TYPE_SFIXED32: _integers(32, signed=True),
    FieldDescriptor.TYPE_INT64: _integers(64, signed=True),
    FieldDescriptor.TYPE_SINT64: _integers(64, signed=True),
    FieldDescriptor.TYPE_SFIXED64: _integers(64, signed=True),
    FieldDescriptor.TYPE_UINT32: _integers(32, signed=False),
    FieldDescriptor.TYPE_FIXED32: _integers(32, signed=False),
    FieldDescriptor.TYPE_UINT64: _integers(64, signed=False),
    FieldDescriptor.TYPE_FIXED64: _integers(64, signed=False),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32),
    FieldDescriptor.TYPE_BYTES: st.one_of(
        st.binary(max_size=64), st.binary(min_size=10_000, max_size=200_000)
    ),
}


def _enum(field: FieldDescriptor) -> Strategy:
    known = [value.number for value in field.enum_type.values]
    # proto3 enums are open: a number the API does not define travels as is.
    return st.one_of(st.sampled_from(known), st.sampled_from(known), _integers(32, signed=True))


# ------------------------------------------------- well-known messages
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | JUNK_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JUNK_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _struct(message_class: type[Message]) -> Strategy:
    def build(fields: dict[str, Any]) -> Message:
        message = message_class()
        message.update(fields)  # type: ignore[attr-defined]
        return message

    keys = st.one_of(WORDS, JUNK_TEXT)
    return st.builds(build, st.dictionaries(keys, JSON_VALUES, max_size=6))


def _field_mask(message_class: type[Message], sibling_paths: list[str]) -> Strategy:
    paths = st.one_of(st.sampled_from(sibling_paths or ["name"]), WORDS, JUNK_TEXT)
    return st.builds(lambda chosen: message_class(paths=chosen), st.lists(paths, max_size=4))


def _timestamp(message_class: type[Message]) -> Strategy:
    # Timestamp's range is years 1 to 9999; past it too.
    seconds = st.one_of(st.integers(-62_135_596_800, 253_402_300_799), _integers(64, signed=True))
    nanos = st.one_of(st.integers(0, 999_999_999), _integers(32, signed=True))
    return st.builds(lambda s, n: message_class(seconds=s, nanos=n), seconds, nanos)


# ---------------------------------------------------------- messages
class RequestStrategies:
    """Strategies for the API's messages, drawing names from `names`."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self._made: dict[tuple[str, int, str], Strategy] = {}

    def message(self, descriptor: Descriptor, depth: int = 0, mask_of: str = "") -> Strategy:
        key = (descriptor.full_name, depth, mask_of)
        if key not in self._made:
            self._made[key] = self._build(descriptor, depth, mask_of)
        return self._made[key]

    def _build(self, descriptor: Descriptor, depth: int, mask_of: str) -> Strategy:
        message_class = GetMessageClass(descriptor)
        if descriptor.full_name == "google.protobuf.Struct":
            return _struct(message_class)
        if descriptor.full_name == "google.protobuf.FieldMask":
            return _field_mask(message_class, mask_of.split(",") if mask_of else [])
        if descriptor.full_name == "google.protobuf.Timestamp":
            return _timestamp(message_class)
        if depth > MAX_DEPTH:
            return st.just(message_class())
        # A mask names the fields of the message beside it (`record` in UpdateRecord)
        # or of the request itself.
        paths = [field.name for field in descriptor.fields]
        for field in descriptor.fields:
            if (
                field.type == FieldDescriptor.TYPE_MESSAGE
                and not field.message_type.full_name.startswith("google.")
            ):
                for nested in field.message_type.fields:
                    paths += [nested.name, f"{field.name}.{nested.name}"]
        optional = {
            field.name: self._field(field, depth, ",".join(paths)) for field in descriptor.fields
        }
        return st.builds(
            lambda values: _assemble(message_class, descriptor, values),
            st.fixed_dictionaries({}, optional=optional),
        )

    def _field(self, field: FieldDescriptor, depth: int, paths: str) -> Strategy:
        if _is_map(field):
            entry = field.message_type
            keys = self._single(entry.fields_by_name["key"], depth + 1, paths)
            values = self._single(entry.fields_by_name["value"], depth + 1, paths)
            return st.dictionaries(keys, values, max_size=4)
        single = self._single(field, depth, paths)
        if _repeated(field):
            return st.lists(single, max_size=4)
        return single

    def _single(self, field: FieldDescriptor, depth: int, paths: str) -> Strategy:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return self.message(field.message_type, depth + 1, paths)
        if field.type == FieldDescriptor.TYPE_ENUM:
            return _enum(field)
        if field.type == FieldDescriptor.TYPE_STRING:
            return _string(field, self.names)
        return _SCALARS[field.type]


def _assemble(
    message_class: type[Message], descriptor: Descriptor, values: dict[str, Any]
) -> Message:
    message = message_class()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if _is_map(field):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif _repeated(field):
            target.extend(value)
        elif isinstance(value, Message):
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


# ------------------------------------------------- malformed bytes
def malformed_bytes(descriptor: Descriptor) -> Strategy:
    """Bytes that are not, or are barely, a message of `descriptor`'s type:
    random bytes, a wire-format tag whose length runs past the end, invalid
    UTF-8 in each string field, a valid empty message followed by garbage."""
    strings = [
        field.number
        for field in descriptor.fields
        if field.type == FieldDescriptor.TYPE_STRING and field.number < 16
    ]
    invalid_utf8 = [bytes([(number << 3) | 2, 2, 0xFF, 0xFE]) for number in strings]
    return st.one_of(
        st.binary(max_size=200),
        st.sampled_from([b"\x0a\xff\xff\xff\xff\x0f", b"\x0a\x05ab", b"\xff", b"\x08"]),
        st.sampled_from(invalid_utf8 or [b"\x80"]),
        st.builds(lambda junk: b"\x0a\x00" + junk, st.binary(min_size=1, max_size=20)),
    )
