"""What every BXML element shares: typed attributes declared once per field, read from and
written to lxml elements, and checked on construction, so a verb built in code (OpenBand's
client) is held to the same rules as one parsed off the wire (the call engine).

A verb is a frozen dataclass whose fields carry their wire spec in `metadata` (made by `text`,
`url`, `flag`, `number`, `count`, `method_spec` and `one_of` below); `Node` reads the spec once
per class to parse, validate and render. The XML attribute is the field's name in camelCase
unless the spec names it. Attributes equal to their default are left out when rendering, as the
SDKs do.

Leniency, where Bandwidth's SDKs differ among themselves (their wire behaviour wins over the
api-docs): booleans are case-insensitive (python-sdk before 23.x wrote str(True) = "True"), GET
and POST too, enumerations ignore case and '-'/'_', blank attributes count as absent, and names
an SDK misspelled are read as aliases. Unknown attributes are ignored (SDKs grow attributes
faster than docs: python-sdk 23.3.1 emits several the api-docs never list) unless `strict`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Final, Literal, Self, TypeVar

from lxml import etree

from openband import xmlsafe
from openband.bxml.errors import BxmlError

Method = Literal["GET", "POST"]

# Attribute kinds: how a value is read, checked and written.
STR: Final = "str"  # kept as written ("" is meaningful: tag="" clears the tag)
TOKEN: Final = "token"  # URLs, addresses, ids: stripped; blank means absent
METHOD: Final = "method"
BOOL: Final = "bool"
FLOAT: Final = "float"
INT: Final = "int"
ENUM: Final = "enum"

ROOTS: Final = ("Response", "Bxml")
TAG_MAX: Final = 256  # a BXML tag attribute or <Tag> (the REST API allows 4096)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SPEC_KEY: Final = "bxml"


def _key(value: str) -> str:
    """Enumerations match ignoring case and '-' vs '_' ("en-us" is en_US)."""
    return value.lower().replace("-", "_")


@dataclass(frozen=True, slots=True, eq=False)
class Attr:
    """How one field travels as an XML attribute."""

    kind: str
    xml: str = ""  # filled from the field name when the class is first used
    required: bool = False
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    max_len: int | None = None
    aliases: tuple[str, ...] = ()
    lookup: dict[str, str] = field(default_factory=dict)  # _key(choice) -> choice


def _field(attr: Attr, default: object) -> Any:
    if attr.required:
        return field(metadata={_SPEC_KEY: attr})
    return field(default=default, metadata={_SPEC_KEY: attr})


def text(
    default: str | None = None,
    *,
    required: bool = False,
    max_len: int | None = None,
    xml: str = "",
) -> Any:
    """A free string attribute (tag, username, name...)."""
    return _field(Attr(STR, xml, required, max_len=max_len), default)


def url(*, required: bool = False, xml: str = "", aliases: tuple[str, ...] = ()) -> Any:
    """A URL attribute; relative URLs are fine (resolved by the interpreter)."""
    return _field(Attr(TOKEN, xml, required, aliases=aliases), None)


def token(*, required: bool = False, xml: str = "") -> Any:
    """An address or id (a number, a SIP URI, a caller id): stripped; blank means absent."""
    return _field(Attr(TOKEN, xml, required), None)


def method_spec(*, xml: str = "", aliases: tuple[str, ...] = ()) -> dict[str, Attr]:
    """Metadata for a *Method field: `field(default="POST", metadata=...)` (GET or POST).
    Method and enumeration fields spell out `field` so ruff sees their immutable defaults."""
    return {_SPEC_KEY: Attr(METHOD, xml, aliases=aliases)}


METHOD_SPEC: Final = method_spec()


def flag(default: bool, *, xml: str = "") -> Any:
    return _field(Attr(BOOL, xml), default)


def number(
    default: float | None,
    lo: float | None = None,
    hi: float | None = None,
    *,
    xml: str = "",
    aliases: tuple[str, ...] = (),
) -> Any:
    """A decimal attribute (durations, timeouts)."""
    return _field(Attr(FLOAT, xml, lo=lo, hi=hi, aliases=aliases), default)


def count(default: int, lo: int | None = None, hi: int | None = None, *, xml: str = "") -> Any:
    """A whole-number attribute."""
    return _field(Attr(INT, xml, lo=lo, hi=hi), default)


def one_of(choices: tuple[str, ...], *, xml: str = "") -> dict[str, Attr]:
    """Metadata for an enumeration field: `field(default=..., metadata=one_of(...))`."""
    lookup = {_key(c): c for c in choices}
    return {_SPEC_KEY: Attr(ENUM, xml, choices=choices, lookup=lookup)}


def _camel(name: str) -> str:
    head, *rest = name.rstrip("_").split("_")  # from_ -> from
    return head + "".join(part.capitalize() for part in rest)


@dataclass(frozen=True, slots=True)
class _Spec:
    attrs: tuple[tuple[str, Attr, object], ...]  # (field, attr, default) in declaration order
    by_xml: dict[str, tuple[str, Attr, bool]]  # wire name or alias -> (field, attr, is_alias)
    required: tuple[tuple[str, Attr], ...]


_SPECS: dict[type, _Spec] = {}
_ALLOWED: dict[type, dict[str, type[Node]]] = {}

# Every element class by tag, filled by @register as the verb modules load.
REGISTRY: dict[str, type[Node]] = {}

# Verbs of BXML v1 (ap-docs bxml/verbs/*.md) that v2 dropped: named in the error, since old
# guides (and the old python-bandwidth example that builds a <Call>) still show them.
_V1_VERBS: Final = {"Call", "Reject", "SendMessage", "Media", "Dtmf"}


def spec_of(cls: type) -> _Spec:
    spec = _SPECS.get(cls)
    if spec is None:
        attrs: list[tuple[str, Attr, object]] = []
        by_xml: dict[str, tuple[str, Attr, bool]] = {}
        for f in fields(cls):
            attr = f.metadata.get(_SPEC_KEY)
            if attr is None:
                continue
            if not attr.xml:
                attr = Attr(**{**_as_dict(attr), "xml": _camel(f.name)})
            default = MISSING if attr.required else f.default
            attrs.append((f.name, attr, default))
            by_xml[attr.xml] = (f.name, attr, False)
            for alias in attr.aliases:
                by_xml[alias] = (f.name, attr, True)
        required = tuple((name, attr) for name, attr, _ in attrs if attr.required)
        spec = _SPECS[cls] = _Spec(tuple(attrs), by_xml, required)
    return spec


def _as_dict(attr: Attr) -> dict[str, Any]:
    return {f.name: getattr(attr, f.name) for f in fields(attr)}


N = TypeVar("N", bound="Node")


def register(cls: type[N]) -> type[N]:
    """Make `cls` known by its tag (to parse it, and to name it in nesting errors)."""
    REGISTRY[cls.TAG] = cls
    return cls


def _shown(value: str, limit: int = 40) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _and(names: tuple[str, ...] | list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def format_number(value: float) -> str:
    """5.0 -> "5", 2.5 -> "2.5": what the SDKs write for the same values."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _range(attr: Attr) -> str:
    lo, hi = attr.lo, attr.hi
    if lo is not None and hi is not None:
        return f"must be between {format_number(lo)} and {format_number(hi)}"
    if lo is not None:
        return f"must be at least {format_number(lo)}"
    return f"must be at most {format_number(hi)}"  # type: ignore[arg-type]


def _bad(tag: str, attr: Attr, rule: str) -> BxmlError:
    return BxmlError(f"{tag}: {attr.xml} {rule}", verb=tag, attribute=attr.xml)


def decode(tag: str, attr: Attr, raw: str) -> object:
    """An attribute's wire text as its field's value; None when blank (= absent)."""
    kind = attr.kind
    if kind == STR:
        return raw
    value = raw.strip()
    if not value:
        return None
    if kind == TOKEN:
        return value
    if kind == METHOD:
        upper = value.upper()
        if upper == "GET" or upper == "POST":
            return upper
        raise _bad(tag, attr, f"must be GET or POST, not '{_shown(raw)}'")
    if kind == BOOL:
        lower = value.lower()
        if lower == "true":
            return True
        if lower == "false":
            return False
        raise _bad(tag, attr, f"must be true or false, not '{_shown(raw)}'")
    if kind == ENUM:
        hit = attr.lookup.get(_key(value))
        if hit is None:
            raise _bad(tag, attr, f"must be one of {', '.join(attr.choices)}; not '{_shown(raw)}'")
        return hit
    # FLOAT or INT
    if not _NUMBER.fullmatch(value):
        raise _bad(tag, attr, f"must be a number, not '{_shown(raw)}'")
    number_ = float(value)
    if not math.isfinite(number_):
        raise _bad(tag, attr, f"must be a number, not '{_shown(raw)}'")
    if kind == INT:
        if not number_.is_integer():
            raise _bad(tag, attr, f"must be a whole number, not '{_shown(raw)}'")
        return int(value) if value.lstrip("+-").isdigit() else int(number_)
    return number_


def encode(attr: Attr, value: object) -> str:
    if attr.kind == BOOL:
        return "true" if value else "false"
    if attr.kind == FLOAT or attr.kind == INT:
        return format_number(value)  # type: ignore[arg-type]
    return xmlsafe.clean(str(value))


def check_attributes(node: Node) -> None:
    """Type, range, length and choice of every attribute field of `node`."""
    tag = node.TAG
    for name, attr, default in spec_of(type(node)).attrs:
        value = getattr(node, name)
        if value is default:  # the class's own default (most attributes): valid by declaration
            continue
        if value is None:
            if attr.required:
                raise _bad(tag, attr, "is required")
            continue
        kind = attr.kind
        if kind in (STR, TOKEN):
            if not isinstance(value, str):
                raise _bad(tag, attr, "must be a string")
            if attr.required and not value.strip():
                raise _bad(tag, attr, "is required")
            if attr.max_len is not None and len(value) > attr.max_len:
                raise _bad(tag, attr, f"must be at most {attr.max_len} characters")
        elif kind == BOOL:
            if not isinstance(value, bool):
                raise _bad(tag, attr, "must be true or false")
        elif kind == METHOD:
            if value not in ("GET", "POST"):
                raise _bad(tag, attr, "must be GET or POST")
        elif kind == ENUM:
            if value not in attr.choices:
                raise _bad(tag, attr, f"must be one of {', '.join(attr.choices)}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _bad(tag, attr, "must be a number")
            if kind == INT and not isinstance(value, int):
                raise _bad(tag, attr, "must be a whole number")
            if not math.isfinite(value):
                raise _bad(tag, attr, "must be a number")
            if (attr.lo is not None and value < attr.lo) or (
                attr.hi is not None and value > attr.hi
            ):
                raise _bad(tag, attr, _range(attr))


def local_name(tag: str) -> str:
    return tag if tag[0] != "{" else xmlsafe.local(tag)


def misplaced(name: str, parent: str, allowed: Mapping[str, type[Node]]) -> BxmlError:
    """Why `name` may not stand inside `parent` (a root or a verb)."""
    cls = REGISTRY.get(name)
    if cls is None:
        if name in ROOTS:
            return BxmlError(f"{name} may only be the root element", verb=name)
        hint = ""
        if name in _V1_VERBS:
            hint = " (a BXML v1 verb, not part of BXML v2)"
        else:
            same = [t for t in REGISTRY if t.lower() == name.lower()]
            if same:
                hint = f" (did you mean '{same[0]}'?)"
        return BxmlError(f"Unknown verb '{name}'{hint}", verb=name)
    if cls.PARENTS and parent not in cls.PARENTS:
        return BxmlError(f"{name} may only appear inside {' or '.join(cls.PARENTS)}", verb=name)
    return BxmlError(f"{parent} may contain only {_and(list(allowed))}, not {name}", verb=parent)


def no_text(tag: str, text: str | None) -> None:
    if text and not text.isspace():
        raise BxmlError(f"{tag} may not contain text (found '{_shown(text)}')", verb=tag)


def parse_children(
    parent: str, allowed: Mapping[str, type[Node]], element: etree._Element, strict: bool
) -> tuple[Node, ...]:
    """The elements inside `element`, each parsed by its class; text between them refused."""
    no_text(parent, element.text)
    out: list[Node] = []
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # a comment or PI in a tree the caller built
            continue
        name = local_name(tag)
        cls = allowed.get(name)
        if cls is None:
            raise misplaced(name, parent, allowed)
        out.append(cls._from(child, strict))
        no_text(parent, child.tail)
    return tuple(out)


def read_attributes(cls: type[Node], element: etree._Element, strict: bool) -> dict[str, Any]:
    spec = spec_of(cls)
    tag = cls.TAG
    out: dict[str, Any] = {}
    for name, raw in element.attrib.items():
        hit = spec.by_xml.get(name)
        if hit is None:
            if name == cls.TEXT_ATTRIBUTE:
                continue
            if strict:
                raise BxmlError(f"{tag}: unknown attribute '{name}'", verb=tag, attribute=name)
            continue
        field_name, attr, alias = hit
        if alias and field_name in out:  # the proper spelling wins over an SDK's misspelling
            continue
        value = decode(tag, attr, raw)
        if value is not None:
            out[field_name] = value
    for field_name, attr in spec.required:
        if field_name not in out:
            raise _bad(tag, attr, "is required")
    return out


class Node:
    """Base of every BXML element class (verbs and their children)."""

    __slots__ = ()

    TAG: ClassVar[str] = ""
    TEXT: ClassVar[str | None] = None  # the field that holds the element's text
    # Conference: python-sdk (through at least ba8d157) writes the text as this attribute.
    TEXT_ATTRIBUTE: ClassVar[str | None] = None
    CHILDREN: ClassVar[str | None] = None  # the field that holds the nested elements
    ALLOWED: ClassVar[tuple[str, ...]] = ()  # their tags
    PARENTS: ClassVar[tuple[str, ...]] = ()  # set on elements that live only inside these

    def __post_init__(self) -> None:
        if self.TEXT is not None:
            value = getattr(self, self.TEXT)
            if not isinstance(value, str):
                raise BxmlError(f"{self.TAG}: text must be a string", verb=self.TAG)
            if value != value.strip():  # as parsing would have it, so round trips are equal
                object.__setattr__(self, self.TEXT, value.strip())
        check_attributes(self)
        if self.CHILDREN is not None:
            self._check_children()
        self._check()

    def _check(self) -> None:
        """Rules on the text or across fields; raise BxmlError (via `_fail`)."""

    def _fail(self, rule: str, attribute: str | None = None) -> BxmlError:
        return BxmlError(f"{self.TAG}: {rule}", verb=self.TAG, attribute=attribute)

    def _check_children(self) -> None:
        name = self.CHILDREN
        assert name is not None
        children = getattr(self, name)
        if not isinstance(children, tuple):  # a list from code: frozen means a tuple
            children = tuple(children)
            object.__setattr__(self, name, children)
        for child in children:
            if not isinstance(child, Node):
                raise BxmlError(
                    f"{self.TAG} may contain only {_and(self.ALLOWED)}, not {type(child).__name__}",
                    verb=self.TAG,
                )
            if child.TAG not in self.ALLOWED:
                raise misplaced(child.TAG, self.TAG, self.allowed())

    @classmethod
    def allowed(cls) -> dict[str, type[Node]]:
        """The classes that may be nested, by tag."""
        hit = _ALLOWED.get(cls)
        if hit is None:
            hit = _ALLOWED[cls] = {t: REGISTRY[t] for t in cls.ALLOWED}
        return hit

    @classmethod
    def parse(cls, element: etree._Element, *, strict: bool = False) -> Self:
        """The element `element` spells; BxmlError if it is not a valid one of this class."""
        name = local_name(element.tag) if isinstance(element.tag, str) else ""
        if name != cls.TAG:
            raise BxmlError(f"Expected a {cls.TAG} element, not {name or 'a non-element'}")
        return cls._from(element, strict)

    @classmethod
    def _from(cls, element: etree._Element, strict: bool) -> Self:
        kwargs = read_attributes(cls, element, strict)
        cls._read_content(element, kwargs, strict)
        return cls(**kwargs)

    @classmethod
    def _read_content(cls, element: etree._Element, kwargs: dict[str, Any], strict: bool) -> None:
        if cls.CHILDREN is not None:
            kwargs[cls.CHILDREN] = parse_children(cls.TAG, cls.allowed(), element, strict)
            return
        for child in element:
            if isinstance(child.tag, str):
                raise BxmlError(
                    f"{cls.TAG} may not contain other elements (found {local_name(child.tag)})",
                    verb=cls.TAG,
                )
        if cls.TEXT is None:
            no_text(cls.TAG, element.text)
            return
        value = (element.text or "").strip()
        if cls.TEXT_ATTRIBUTE is not None:
            other = (element.get(cls.TEXT_ATTRIBUTE) or "").strip()
            if value and other and value != other:
                raise BxmlError(
                    f"{cls.TAG}: {cls.TEXT_ATTRIBUTE} given twice, as text ('{_shown(value)}') "
                    f"and as an attribute ('{_shown(other)}')",
                    verb=cls.TAG,
                    attribute=cls.TEXT_ATTRIBUTE,
                )
            value = value or other
        kwargs[cls.TEXT] = value

    def to_element(self) -> etree._Element:
        """This element as an lxml element (attributes at their defaults left out)."""
        el = etree.Element(self.TAG)
        for name, attr, default in spec_of(type(self)).attrs:
            value = getattr(self, name)
            if value is not None and value != default:
                el.set(attr.xml, encode(attr, value))
        self._write_content(el)
        return el

    def _write_content(self, el: etree._Element) -> None:
        if self.TEXT is not None:
            value = getattr(self, self.TEXT)
            if value:
                el.text = xmlsafe.clean(value)
        if self.CHILDREN is not None:
            for child in getattr(self, self.CHILDREN):
                el.append(child.to_element())

    def to_xml(self) -> str:
        """This element as XML text, without a declaration."""
        return etree.tostring(self.to_element(), encoding="unicode")
