"""Simulator control (OpenBand's /sim/v1): what a user may do to the simulated network.

Handsets text the user's numbers, report what they received and sent, and are scripted. The
rules live here so every way in (the /sim/v1 API, the CLI, a test plugin) applies them alike:
a handset is any valid number that no account owns; the platform numbers it texts must be the
caller's own; media is fetched before the transaction (no network I/O under the write lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from openband.clock import now, parse_iso
from openband.core.budget import ByteBudget
from openband.core.phone import to_e164
from openband.delivery.fetch import Fetcher, FetchError, FetchStatus, FetchTooLarge
from openband.errors import InvalidInput, NotFound, TooLarge
from openband.network import segments
from openband.network.messaging import CONTROL_IN_TEXT, MAX_TEXT, MediaItem
from openband.network.sim import RESERVED, Behaviour, ReservedNumber, SimulatorMessaging, reserved
from openband.network.sim.behaviours import DEFAULT
from openband.network.sim.call_scripts import MAX_SPEECH, CallScript
from openband.store import numbers
from openband.store import simulator as log
from openband.store.db import Transaction
from openband.store.simulator import RECEIVED, SENT, HandsetMessage

if TYPE_CHECKING:
    from openband.config import Settings
    from openband.core.messaging import MediaLibrary, MessagingSink
    from openband.store.db import Database

# What the API families name through this module.
__all__ = [
    "MAX_MEDIA",
    "MAX_RECIPIENTS",
    "MAX_SPEECH",
    "MAX_TEXT",
    "RECEIVED",
    "SENT",
    "Behaviour",
    "CallScript",
    "HandsetMessage",
    "HandsetScript",
    "HandsetSent",
    "MediaItem",
    "ReservedNumber",
    "SimulatorControl",
]

logger = logging.getLogger(__name__)  # (`log` is the handsets' log, store/simulator)

MAX_RECIPIENTS = 10
MAX_MEDIA = 10
MAX_URL = 4096
MEDIA_FETCH_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class HandsetSent:
    message_ids: list[str]
    handset: str
    to: tuple[str, ...]
    media: list[str]  # the items' names
    segment_count: int
    time: datetime


@dataclass(frozen=True, slots=True)
class HandsetScript:
    number: str
    behaviour: Behaviour
    reserved: bool  # a reserved test number: fixed behaviour
    scripted: bool  # set by a user (else the default, deliver)
    call: CallScript | None = None  # how it answers calls (None: rings ~1 s, answers, stays on)


def _media_name(url: str, index: int) -> str:
    tail = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return tail[:255] or f"media{index}"


def _check_owners(
    owners: dict[str, str], handset: str, to: tuple[str, ...], account_id: str
) -> dict[str, str]:
    """The recipients, each of them the caller's number (-> account). Another account's number
    answers exactly as a number not on the platform: no answer tells which numbers are."""
    if owners.get(handset) == account_id:
        raise InvalidInput(
            f"from {handset} is a number of your account, not a handset; "
            "send from it with the Messaging API",
            field="from",
        )
    foreign = [tn for tn in to if owners.get(tn) != account_id]
    if foreign:
        raise NotFound(f"{', '.join(foreign)} is not a number of your account")
    return {tn: account_id for tn in to}


def _not_reserved(tn: str) -> None:
    if reserved(tn) is not None:
        raise InvalidInput(
            f"{tn} is a reserved test number with a fixed behaviour "
            "(see GET /sim/v1/reserved-numbers)",
            field="number",
        )


class SimulatorControl:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        carrier: SimulatorMessaging,
        sink: MessagingSink,
        fetcher: Fetcher | None,
        wake: Callable[[], None],
        media: MediaLibrary | None = None,
    ) -> None:
        """`wake` runs after a commit that enqueued work (callbacks, timers); `media` (the
        messaging media library) checks an MMS against the account's media quota."""
        self.settings = settings
        self.db = db
        self.carrier = carrier
        self.sink = sink
        self.fetcher = fetcher
        self.wake = wake
        self.media = media
        # Request bytes of /sim/v1 bodies (inline media, parsed whole) held at once, per process.
        self.inflight = ByteBudget(settings.sim_inflight_bytes)

    # --- a handset texts the platform ---

    def _recipients(
        self, sender: str, to: Sequence[str], text: str, media: int
    ) -> tuple[str, tuple[str, ...]]:
        handset = to_e164(sender, field="from")
        if not to:
            raise InvalidInput("to must name at least one number", field="to")
        if len(to) > MAX_RECIPIENTS:
            raise InvalidInput(f"to may name at most {MAX_RECIPIENTS} numbers", field="to")
        out: list[str] = []
        for value in to:
            tn = to_e164(value, field="to")
            if tn not in out:
                out.append(tn)
        if handset in out:
            raise InvalidInput("a handset cannot text itself", field="to")
        if not text and not media:
            raise InvalidInput("text or media is required", field="text")
        if CONTROL_IN_TEXT.search(text):
            raise InvalidInput("text must not contain control characters", field="text")
        return handset, tuple(out)

    async def _load_media(self, items: Sequence[str | MediaItem]) -> tuple[MediaItem, ...]:
        """Fetch URL items (inline ones are already bytes) within the total budget."""
        budget = self.settings.sim_max_media_bytes
        out: list[MediaItem] = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                if len(item) > MAX_URL or urlsplit(item).scheme not in ("http", "https"):
                    raise InvalidInput(
                        f"media[{i}] must be an http(s) URL of at most {MAX_URL} characters",
                        field=f"media[{i}]",
                    )
                item = await self._fetch(i, item, max(budget, 0))
            budget -= len(item.content)
            if budget < 0:
                raise TooLarge(f"media exceed {self.settings.sim_max_media_bytes} bytes in total")
            out.append(item)
        return tuple(out)

    async def _fetch(self, index: int, url: str, budget: int) -> MediaItem:
        if self.fetcher is None:
            raise InvalidInput(f"media[{index}]: media URLs cannot be fetched here")
        try:
            got = await self.fetcher.fetch(url, max_bytes=budget, timeout=MEDIA_FETCH_SECONDS)
        except FetchTooLarge as exc:
            raise TooLarge(f"media[{index}]: {exc}") from None
        except FetchStatus as exc:
            raise InvalidInput(
                f"media[{index}]: {url} answered HTTP {exc.status}", field=f"media[{index}]"
            ) from None
        except FetchError as exc:
            # One text whether the policy refused the address, nothing listens there or it
            # timed out: a caller must not learn which local ports are open (issue 12).
            logger.info("handset media fetch failed: %s", exc)
            raise InvalidInput(
                f"media[{index}]: {url} could not be fetched", field=f"media[{index}]"
            ) from None
        return MediaItem(
            content=got.body,
            content_type=got.content_type or "application/octet-stream",
            name=_media_name(url, index),
        )

    async def handset_send(
        self,
        account_id: str,
        sender: str,
        to: Sequence[str],
        text: str,
        media: Sequence[str | MediaItem] = (),
    ) -> HandsetSent:
        """The handset `sender` texts platform numbers of `account_id`: they receive it as from a
        real phone, and the handset's "sent" record is written in the same transaction."""
        handset, recipients = self._recipients(sender, to, text, len(media))
        # Refuse early, before any media is fetched; checked again inside the transaction.
        async with self.db.connect() as conn:
            owned = await numbers.owned_among(conn, [handset, *recipients])
        _check_owners(owned, handset, recipients, account_id)
        items = await self._load_media(media)
        # Each recipient's copies count against the account's media quota: refused here, before
        # anything is stored (a copy that no longer fits in the transaction is left out).
        if self.media is not None:
            await self.media.check_room(
                account_id,
                len(items) * len(recipients),
                sum(len(m.content) for m in items) * len(recipients),
            )
        async with self.db.begin() as conn:
            owned = await numbers.owned_among(conn, [handset, *recipients])
            owners = _check_owners(owned, handset, recipients, account_id)
            ids = await self.carrier.handset_send(
                self.sink.bind(conn),
                handset=handset,
                to=recipients,
                owners=owners,
                text=text,
                media=items,
            )
        self.wake()
        mms = bool(items) or len(recipients) > 1
        return HandsetSent(
            message_ids=ids,
            handset=handset,
            to=recipients,
            media=[m.name for m in items],
            segment_count=segments.message_segment_count(text, mms=mms),
            time=now(),
        )

    # --- what a handset received and sent ---

    async def handset_log(
        self,
        account_id: str,
        number: str,
        *,
        direction: str | None = None,
        since: str | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> tuple[str, list[HandsetMessage]]:
        """The handset's traffic with `account_id`'s numbers only, oldest first (the newest
        `limit` rows); `since` (ISO-8601) and `after` (a row id) for polling."""
        tn = to_e164(number, field="number")
        since_dt = None
        if since:
            try:
                since_dt = parse_iso(since)
            except ValueError:
                raise InvalidInput(
                    f"since '{since}' is not an ISO-8601 time", field="since"
                ) from None
        async with self.db.connect() as conn:
            rows = await log.listing(
                conn,
                tn,
                account_id,
                direction=direction,
                since=since_dt,
                after_id=after,
                limit=limit,
            )
        return tn, rows

    # --- scripts ---

    async def _handset(self, account_id: str, number: str) -> str:
        """A handset's number for `account_id`: valid, and not one of its own numbers (another
        account's number is a handset like any other to it: nothing tells them apart)."""
        tn = to_e164(number, field="number")
        async with self.db.connect() as conn:
            if await numbers.get(conn, tn, account_id) is not None:
                raise InvalidInput(
                    f"{tn} is a number of your account; your numbers are not handsets",
                    field="number",
                )
        return tn

    async def script(self, account_id: str, number: str) -> HandsetScript:
        """What the handset does with `account_id`'s messages, and why: a reserved number, the
        account's own script (`scripted`), the operator's default, or deliver."""
        tn = await self._handset(account_id, number)
        fixed = reserved(tn)
        if fixed is not None:
            return HandsetScript(tn, fixed.behaviour, reserved=True, scripted=False)
        async with self.db.connect() as conn:
            own = await log.script(conn, account_id, tn)
            found = own if own is not None else await log.script(conn, log.PLATFORM, tn)
        behaviour = Behaviour.from_json(found) if found is not None else DEFAULT
        call = CallScript.from_json(found["call"]) if found and found.get("call") else None
        return HandsetScript(tn, behaviour, reserved=False, scripted=own is not None, call=call)

    async def set_script(
        self, account_id: str, number: str, behaviour: Behaviour, call: CallScript | None = None
    ) -> HandsetScript:
        """Script the handset for `account_id`'s own messages and calls (one row: the messaging
        behaviour's fields and the call script under "call")."""
        tn = to_e164(number, field="number")
        _not_reserved(tn)
        behaviour = behaviour.validate()
        tn = await self._handset(account_id, tn)
        stored = behaviour.to_json() | ({"call": call.to_json()} if call is not None else {})
        async with self.db.begin() as conn:
            await log.put_script(conn, account_id, tn, stored)
        return HandsetScript(tn, behaviour, reserved=False, scripted=True, call=call)

    async def reset_script(self, account_id: str, number: str) -> None:
        tn = to_e164(number, field="number")
        _not_reserved(tn)
        tn = await self._handset(account_id, tn)
        async with self.db.begin() as conn:
            await log.delete_script(conn, account_id, tn)

    # --- the operator's platform-wide defaults (the CLI) ---

    async def set_default(self, number: str, behaviour: Behaviour) -> Behaviour:
        """What the handset does for every account that has not scripted it."""
        tn = to_e164(number, field="number")
        _not_reserved(tn)
        behaviour = behaviour.validate()
        async with self.db.begin() as conn:
            await log.put_script(conn, log.PLATFORM, tn, behaviour.to_json())
        return behaviour

    async def reset_default(self, number: str) -> bool:
        tn = to_e164(number, field="number")
        async with self.db.begin() as conn:
            return await log.delete_script(conn, log.PLATFORM, tn)

    async def defaults(self) -> list[tuple[str, Behaviour]]:
        async with self.db.connect() as conn:
            rows = await log.list_scripts(conn, log.PLATFORM)
        return [(tn, Behaviour.from_json(b)) for tn, b in rows]

    @staticmethod
    def reserved_numbers() -> list[ReservedNumber]:
        return list(RESERVED.values())


# --- the operator's platform-wide defaults (`openband handsets`) -----------------------------


async def set_default(tx: Transaction, number: str, behaviour: Behaviour) -> tuple[str, Behaviour]:
    """What the handset does for every account that has not scripted it."""
    tn = to_e164(number, field="number")
    _not_reserved(tn)
    behaviour = behaviour.validate()
    await log.put_script(tx, log.PLATFORM, tn, behaviour.to_json())
    return tn, behaviour


async def reset_default(tx: Transaction, number: str) -> bool:
    return await log.delete_script(tx, log.PLATFORM, to_e164(number, field="number"))


async def defaults(tx: Transaction) -> list[tuple[str, Behaviour]]:
    return [(tn, Behaviour.from_json(b)) for tn, b in await log.list_scripts(tx, log.PLATFORM)]
