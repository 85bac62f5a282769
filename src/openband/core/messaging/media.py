"""Media ids, URLs and stored file names."""

from __future__ import annotations

import re
from urllib.parse import quote

from openband.errors import NotFound

MAX_MEDIA_ID = 1024
_MEDIA_PATH = re.compile(r"^(?:/api/v2)?/users/(?P<account>[^/]+)/media/(?P<media_id>.+)$")


def check_media_id(media_id: str) -> str:
    if not media_id or len(media_id) > MAX_MEDIA_ID:
        raise NotFound("Not Found")
    return media_id


def media_url(base: str, account_id: str, media_id: str) -> str:
    return f"{base}/api/v2/users/{quote(account_id, safe='')}/media/{quote(media_id, safe='/')}"


def safe_media_name(name: str, index: int) -> str:
    cleaned = (
        re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit("/", 1)[-1]).strip("._") or f"media{index}"
    )
    return cleaned[:200]
