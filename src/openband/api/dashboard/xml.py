"""The Dashboard's XML: its documents as pydantic-xml models, its error documents, and the
hardened parser's refusals as its 1001 errors (parsing and writing: openband/xmlsafe.py).

Documents are pydantic-xml models in "unordered" mode: element order is not significant
(bandwidth-numbers-sdk sends children in alphabetical order).
"""

from __future__ import annotations

from typing import TypeVar

from lxml import etree
from pydantic import ValidationError
from pydantic_xml import BaseXmlModel
from starlette.responses import Response

from openband import xmlsafe
from openband.errors import InvalidInput
from openband.xmlsafe import element as element
from openband.xmlsafe import local as local

XML_MEDIA_TYPE = xmlsafe.MEDIA_TYPE

M = TypeVar("M", bound=BaseXmlModel)


class XmlDoc(BaseXmlModel, search_mode="unordered"):
    """Base of every Dashboard document: order-insensitive, unknown elements ignored."""


def parse_tree(body: bytes) -> etree._Element:
    try:
        return xmlsafe.parse(body)
    except xmlsafe.XmlError as exc:
        raise InvalidInput(str(exc), code=1001) from exc


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
    return xmlsafe.serialize(model.to_xml_tree(skip_empty=True))


def xml(doc: etree._Element, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An lxml document as the answer."""
    return Response(
        xmlsafe.serialize(doc), status_code=status, media_type=XML_MEDIA_TYPE, headers=headers
    )


def xml_response(
    model: BaseXmlModel | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content = to_bytes(model) if model is not None else b""
    return Response(content, status_code=status, headers=headers, media_type=XML_MEDIA_TYPE)


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
    return xmlsafe.serialize(doc)
