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

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from vault.v1 import vault_pb2 as pb

Strategy = st.SearchStrategy[Any]

# A name the vault hands out: subjects, their records, erasure requests and
# their steps and manual actions, tokens.
RESOURCE_NAME = re.compile(r"(subjects|erasureRequests|tokens)/\S+")
MAX_DEPTH = 3  # nested messages deeper than this are left empty

_HEX = "0123456789abcdef"
_TOKEN_ID = "abcdefghijklmnopqrstuvwxyz234567"


def mostly(usual: Strategy, other: Strategy) -> Strategy:
    """`usual` about three times in four, else `other` (st.one_of cannot
    weigh its branches: it draws each about as often)."""

    @st.composite
    def pick(draw: Callable[[Strategy], Any]) -> Any:
        return draw(usual if draw(st.sampled_from([True, True, True, False])) else other)

    return pick()


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
    return bool(field.is_repeated)


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
            "vault",
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
    # A small space of e-mails, phones and external ids, so identities collide (IDENTITY_IN_USE).
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

# The school's purposes, consent-based and not, so consent and policy calls
# reach the history rather than stop at an unknown purpose.
PURPOSES = st.one_of(
    st.sampled_from(
        [
            "marketing_email",
            "marketing_sms",
            "customer_surveys",
            "model_bank",
            "bookkeeping",
            "course_delivery",
        ]
    ),
    WORDS,
)

# Policy versions that repeat (POLICY_VERSION_EXISTS, a version named that was published).
POLICY_VERSIONS = st.one_of(
    st.sampled_from(["2026-01", "2026-02", "2027-01", "v1.0", "", "-dash", "with space"]),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", fullmatch=True),
)

DATES = st.one_of(
    st.dates().map(lambda day: day.isoformat()),
    st.sampled_from(["2026-11-24", "2026-02-30", "20261124", "2026-W48-2", ""]),
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


RECORD_NAME = re.compile(r"subjects/[^/]+/records/[^/]+")

# What a name field names, by the message it is in: the first of these
# words in the message's name decides; `parent` and `subject` name subjects.
NAME_KINDS = [
    ("Record", RECORD_NAME),
    ("ManualAction", re.compile(r"erasureRequests/[^/]+/manualActions/[^/]+")),
    ("DecideMatch", re.compile(r"erasureRequests/[^/]+/steps/[^/]+")),
    ("Erasure", re.compile(r"erasureRequests/[^/]+")),
    ("Token", re.compile(r"tokens/[^/]+")),
    ("Subject", re.compile(r"subjects/[^/]+")),
]
SUBJECT_NAME = re.compile(r"subjects/[^/]+")
ANY_NAME = re.compile(r".+")


def name_kind(field: FieldDescriptor) -> re.Pattern[str] | None:
    """The names `field` takes (None: not a resource name), or ANY_NAME when
    its message does not say."""
    if field.name in ("parent", "subject"):
        return SUBJECT_NAME
    if field.name != "name":
        return None
    message = field.containing_type.name
    if "Connector" in message:
        return None  # a connector's name is a word
    return next((kind for word, kind in NAME_KINDS if word in message), ANY_NAME)


def resource_names(names: Names, kind: re.Pattern[str] = ANY_NAME) -> Strategy:
    """Mostly names of `kind` the fuzz met, as they are; else bent, of
    another kind, made up, or junk."""

    @st.composite
    def named(draw: Callable[[Strategy], Any]) -> str:
        # Every draw is made whatever the pool holds: hypothesis requires the
        # same draws for the same choices, and the pool grows as the fuzz runs.
        route = draw(st.sampled_from(["met"] * 6 + ["other", "bent", "made up", "junk"]))
        index = draw(st.integers(0, 1023))
        bend = draw(st.sampled_from(["child", "upper", "trailing"]))
        child = draw(st.sampled_from(["records", "steps", "manualActions"]))
        child_id = draw(st.one_of(_hex(32), WORDS))
        trailing = draw(st.sampled_from(["/", " ", "\x00", "/records/"]))
        made_up = str(draw(_made_up_names()))
        junk = str(draw(JUNK_TEXT))
        of_kind = [name for name in names.seen if kind.fullmatch(name)]
        pool = names.seen if route == "other" else of_kind or names.seen
        if route == "junk":
            return junk
        if route == "made up" or not pool:
            return made_up
        # Counted from the newest: hypothesis leans to small numbers, and the
        # newest names are likeliest to be of someone not yet erased.
        name = pool[-1 - index % len(pool)]
        if route != "bent":
            return name
        if bend == "child":
            return f"{name}/{child}/{child_id}"
        if bend == "upper":
            return name.upper()
        return name + trailing

    return named()


def _string(field: FieldDescriptor, names: Names) -> Strategy:
    """A strategy for a string field, by what the API's field names say it holds."""
    kind = name_kind(field)
    if kind is not None:
        return resource_names(names, kind)
    by_name: dict[str, Strategy] = {
        "name": WORDS,
        "request_id": REQUEST_IDS,
        "category": WORDS,
        "purpose": PURPOSES,
        "purposes": PURPOSES,
        "changed_purposes": PURPOSES,
        "material_purposes": PURPOSES,
        "version": POLICY_VERSIONS,
        "policy_version": POLICY_VERSIONS,
        "effective_date": DATES,
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
    return JUNK_TEXT if fitting is None else mostly(fitting, JUNK_TEXT)


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
    return mostly(st.sampled_from(known), _integers(32, signed=True))


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


# ------------------------------------------------- plausible messages
# Where a message's fields must agree with each other (an identity's kind and
# value), a generic build is almost never valid: RequestStrategies mixes
# these valid ones in (_plausible). Any other message is fuzzed generically.
_IDENTITIES = st.one_of(
    st.builds(
        lambda value: pb.Identity(kind=pb.IDENTITY_KIND_EMAIL, value=value),
        st.builds("fuzz{}@example.se".format, st.integers(0, 9)),
    ),
    st.builds(
        lambda value: pb.Identity(kind=pb.IDENTITY_KIND_PERSONNUMMER, value=value),
        st.sampled_from(["811218-9876", "19850312-1231", "198112189876"]),
    ),
    st.builds(
        lambda value: pb.Identity(kind=pb.IDENTITY_KIND_PHONE, value=value),
        st.builds("+4670{:07d}".format, st.integers(0, 9)),
    ),
    st.builds(
        lambda value: pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, system="lms", value=value),
        st.builds(str, st.integers(7000, 7009)),
    ),
)


def _record(
    name: str,
    category: str,
    purpose: str,
    basis: int,
    system: str,
    fields: Message,
    content: Message | None,
) -> pb.Record:
    made = pb.Record(
        name=name, category=category, purpose=purpose, legal_basis=basis, source_system=system
    )
    made.fields.CopyFrom(fields)
    if content is not None:
        made.content.CopyFrom(content)
    return made


def _records(names: Names) -> Strategy:
    return st.builds(
        _record,
        resource_names(names, RECORD_NAME),
        st.sampled_from(["contact", "notes", "student.grading"]),
        st.sampled_from(["course_delivery", "course_delivery", "salon_booking"]),
        st.sampled_from([pb.LEGAL_BASIS_CONTRACT, pb.LEGAL_BASIS_CONSENT]),
        st.sampled_from(["lms", "lms", "salon"]),
        _struct(struct_pb2.Struct),
        st.none()
        | st.builds(
            lambda data, media_type: pb.Content(data=data, media_type=media_type, filename="f.bin"),
            st.binary(max_size=2000),
            st.sampled_from(["image/jpeg", "application/pdf"]),
        ),
    )


UNSET = object()  # a field left as it is


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
        # Each field is set about three times in four: requests need most of
        # theirs to get past validation to the code behind it.
        fields = {
            field.name: mostly(self._field(field, depth, ",".join(paths)), st.just(UNSET))
            for field in descriptor.fields
        }
        generic = st.builds(
            lambda values: _assemble(message_class, descriptor, values),
            st.fixed_dictionaries(fields),
        )
        plausible = self._plausible(descriptor)
        return generic if plausible is None else mostly(plausible, generic)

    def _plausible(self, descriptor: Descriptor) -> Strategy | None:
        if descriptor.full_name == "vault.v1.Identity":
            return _IDENTITIES
        if descriptor.full_name == "vault.v1.Record":
            return _records(self.names)
        return None

    def _field(self, field: FieldDescriptor, depth: int, paths: str) -> Strategy:
        if _is_map(field):
            entry = field.message_type
            keys = self._single(entry.fields_by_name["key"], depth + 1, paths)
            values = self._single(entry.fields_by_name["value"], depth + 1, paths)
            return st.dictionaries(keys, values, max_size=4)
        single = self._single(field, depth, paths)
        if _repeated(field):
            return mostly(st.lists(single, min_size=1, max_size=3), st.lists(single, max_size=6))
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
        if value is UNSET:
            continue
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
