"""Hardened XML in, Bandwidth-shaped XML out.

Parsing refuses DTDs and entity declarations outright (XXE, billion laughs), never touches the
network and caps the size. Documents are pydantic-xml models in "unordered" mode: element order
is not significant (bandwidth-numbers-sdk sends children in alphabetical order).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from lxml import etree
from pydantic import ValidationError
from pydantic_xml import BaseXmlModel
from starlette.responses import Response

from openband.errors import InvalidInput

XML_MEDIA_TYPE = "application/xml"
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)

M = TypeVar("M", bound=BaseXmlModel)


class XmlDoc(BaseXmlModel, search_mode="unordered"):
    """Base of every Dashboard document: order-insensitive, unknown elements ignored."""


def parse_tree(body: bytes) -> etree._Element:
    if not body or not body.strip():
        raise InvalidInput("The request body is empty; an XML document is required", code=1001)
    if _FORBIDDEN.search(body):
        raise InvalidInput("DTDs and entity declarations are not allowed", code=1001)
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"Malformed XML: {exc.msg}", code=1001) from exc
    if root is None:
        raise InvalidInput("The request body is not an XML document", code=1001)
    if root.getroottree().docinfo.doctype:
        raise InvalidInput("DTDs are not allowed", code=1001)
    return root


def local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def parse_doc(body: bytes, model: type[M], roots: tuple[str, ...] | None = None) -> M:
    """Parse `body` into `model`; `roots` lists the accepted root names (default: the model's)."""
    root = parse_tree(body)
    expected = roots or (model.__xml_tag__,)
    if local(root.tag) not in expected:
        raise InvalidInput(
            f"Unexpected root element <{local(root.tag)}>; expected <{expected[0]}>", code=1001
        )
    if root.tag != model.__xml_tag__:
        root.tag = model.__xml_tag__
    try:
        return model.from_xml_tree(root)
    except ValidationError as exc:
        raise InvalidInput(describe_validation(exc), code=1001) from exc


def describe_validation(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if not isinstance(p, int))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "Invalid request: " + "; ".join(parts)


def to_bytes(model: BaseXmlModel) -> bytes:
    return model.to_xml(skip_empty=True, xml_declaration=True, encoding="UTF-8", standalone=True)  # type: ignore[return-value]


def xml_response(
    model: BaseXmlModel | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content = to_bytes(model) if model is not None else b""
    return Response(content, status_code=status, headers=headers, media_type=XML_MEDIA_TYPE)


def element(tag: str, text: Any = None, **children: Any) -> etree._Element:
    """Small builder for ad-hoc documents (errors)."""
    el = etree.Element(tag)
    if text is not None:
        el.text = str(text)
    for name, value in children.items():
        if value is not None:
            el.append(element(name, value))
    return el


def error_document(root: str, style: str, code: int | None, description: str) -> bytes:
    """Bandwidth's three error shapes.

    status:    <Root><ResponseStatus><ErrorCode/><Description/></ResponseStatus></Root>
    errorlist: <Root><ErrorList><Error><Code/><Description/></Error></ErrorList></Root>
    error:     <Root><Error><Code/><Description/></Error></Root>          (searches)
    """
    doc = etree.Element(root)
    code_text = str(code) if code is not None else "1000"
    if style == "errorlist":
        lst = etree.SubElement(doc, "ErrorList")
        lst.append(element("Error", Code=code_text, Description=description))
    elif style == "error":
        doc.append(element("Error", Code=code_text, Description=description))
    else:
        doc.append(element("ResponseStatus", ErrorCode=code_text, Description=description))
    return etree.tostring(doc, xml_declaration=True, encoding="UTF-8", standalone=True)
