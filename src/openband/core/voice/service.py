"""Voice: what the API families (v2 now, v1 next) and the simulator control API call.

The rules live here once: who may call from which number with which application, the limits,
which calls an account may see or change, and how an inbound call finds its application
(number -> location -> HttpVoiceV2AppId). Calls are then run by the runtime (runtime.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from openband import bxml, ids
from openband.audio import files as audio_files
from openband.clock import Clock
from openband.core.phone import to_e164
from openband.core.provisioning.config import VOICE, ApplicationConfig, Credentials
from openband.core.voice.limits import CallLimits, DialSchedule
from openband.core.voice.model import (
    Call,
    CallUpdate,
    Creds,
    ListQuery,
    NewCall,
    Recording,
    Settings,
    Target,
)
from openband.core.voice.runtime import CallRuntime, call_from_row, open_settings, parse_bxml
from openband.errors import Conflict, InvalidInput, NotFound
from openband.network import voice as net
from openband.store import calls as repo
from openband.store import messages as accounts_repo
from openband.store import provisioning as apps_repo
from openband.store.blobs import BlobMissing, BlobStore

if TYPE_CHECKING:
    from openband.config import Settings as AppSettings
    from openband.network.sim.voice import SimulatorVoice
    from openband.sealing import Sealer
    from openband.store.db import Database

log = logging.getLogger(__name__)


class CallNotFound(NotFound):
    pass


class Voice:
    def __init__(
        self,
        settings: AppSettings,
        db: Database,
        *,
        runtime: CallRuntime,
        sim: SimulatorVoice,
        sealer: Sealer,
        clock: Clock,
        blobs: BlobStore,
    ) -> None:
        self.settings = settings
        self.db = db
        self.runtime = runtime
        self.sim = sim
        self.sealer = sealer
        self.clock = clock
        self.blobs = blobs
        self.schedule = DialSchedule()
        runtime.on_incoming(self.incoming)

    # --- calls ------------------------------------------------------------------------------

    async def create_call(self, req: NewCall) -> Call:
        """POST …/calls: validated, stored queued, dialled at the account's rate."""
        sender = to_e164(req.sender, field="from")
        to = req.to if req.to.startswith("sip:") else to_e164(req.to, field="to")
        at = self.clock.now()
        async with self.db.begin() as conn:
            app = await apps_repo.get_application(conn, req.account_id, req.application_id)
            if app is None or app.service_type != VOICE:
                raise InvalidInput(
                    f"Invalid applicationId: {req.application_id} is not a Voice-V2 "
                    "application of this account",
                    field="applicationId",
                )
            owner = await repo.route(conn, sender)
            if owner is None or owner.account_id != req.account_id:
                raise InvalidInput(
                    f"Invalid from: {sender} is not a telephone number of this account",
                    field="from",
                )
            limits = CallLimits.from_json(await accounts_repo.account_limits(conn, req.account_id))
            self.schedule.check_concurrent(await repo.live_count(conn, req.account_id), limits)
            delay = self.schedule.slot(req.account_id, limits, time.monotonic())
            settings = Settings(
                answer=req.answer,
                disconnect=Target(req.disconnect_url, req.disconnect_method, req.answer.creds)
                if req.disconnect_url
                else None,
                callback_timeout=req.callback_timeout,
                call_timeout=req.call_timeout,
                uui=req.uui,
                privacy=req.privacy,
                display_name=req.display_name,
                machine_detection=req.machine_detection,
            )
            call = Call(
                call_id=ids.call_id(),
                account_id=req.account_id,
                application_id=req.application_id,
                direction="outbound",
                sender=sender,
                to=to,
                state="queued",
                settings=settings,
                enqueued_time=at,
                last_update=at,
                priority=req.priority,
                tag=req.tag,
                node=self.runtime.node,
                created_at=at,
            )
            await repo.insert(conn, self._row(call))
        await self.runtime.queue(
            call, call.settings.answer.creds if call.settings.answer else None, delay
        )
        return call

    async def get_call(self, account_id: str, call_id: str) -> Call:
        async with self.db.connect() as conn:
            row = await repo.get(conn, call_id)
        if row is None or row["account_id"] != account_id:
            raise CallNotFound(f"Call {call_id} not found")
        return self._call(row)

    async def list_calls(self, q: ListQuery) -> list[Call]:
        f = repo.CallFilter(
            account_id=q.account_id,
            to=q.to,
            sender=q.sender,
            min_start=q.min_start_time,
            max_start=q.max_start_time,
            cause=q.disconnect_cause,
            after=q.after,
            limit=q.page_size,
        )
        async with self.db.connect() as conn:
            rows = await repo.search(conn, f)
        return [self._call(r) for r in rows]

    async def update_call(self, account_id: str, call_id: str, upd: CallUpdate) -> None:
        """POST …/calls/{id}: checked first, then the tag, then the redirect or the hang-up,
        so a refused request changes nothing."""
        call = await self.get_call(account_id, call_id)
        busy = Conflict(f"Call {call_id} cannot be modified in its current state")
        a = self.runtime.active.get(call_id)
        if not call.live or (upd.state == "completed" and a is None):
            raise busy
        if upd.redirect is not None and (call.state != "answered" or a is None):
            raise busy
        if upd.tag is not None or upd.clear_tag:
            tag = None if upd.clear_tag else upd.tag
            async with self.db.begin() as conn:
                await repo.set_fields(conn, call_id, tag=tag, last_update=self.clock.now())
            if a is not None:
                a.call.tag = tag
                a.machine.tag = tag
        if upd.state == "completed":
            if not await self.runtime.hang_up(call_id):
                raise busy
        elif upd.redirect is not None and not await self.runtime.redirect(call_id, upd.redirect):
            raise busy

    async def replace_bxml(self, account_id: str, call_id: str, body: bytes) -> None:
        call = await self.get_call(account_id, call_id)
        try:
            verbs = parse_bxml(body, root="Bxml")
        except bxml.BxmlError as exc:
            raise InvalidInput(str(exc), field="bxml") from exc
        if call.state != "answered" or not await self.runtime.replace(call_id, verbs):
            raise Conflict(f"Call {call_id} cannot be modified in its current state")

    async def statistics(self, account_id: str) -> tuple[int, int | None]:
        """(calls waiting to be dialled, the queue's size) for GET …/statistics."""
        async with self.db.connect() as conn:
            limits = CallLimits.from_json(await accounts_repo.account_limits(conn, account_id))
        return self.schedule.waiting(account_id, limits, time.monotonic()), limits.queue

    # --- inbound ----------------------------------------------------------------------------

    async def incoming(self, ev: net.IncomingCall) -> None:
        """The network offers a call to a platform number: its location's voice application
        gets `initiate`, or the call is rejected (no application, a limit)."""
        at = ev.at
        async with self.db.begin() as conn:
            r = await repo.route(conn, ev.to)
            config = None
            if r is not None and r.app_id and r.service_type == VOICE:
                config = ApplicationConfig.load(r.service_type, r.app_config, self.sealer).voice
            if r is None or config is None or not config.call_initiated_callback_url:
                await self.sim_reject(ev.call_id)
                return
            limits = CallLimits.from_json(await accounts_repo.account_limits(conn, r.account_id))
            if limits.concurrent is not None and (
                await repo.live_count(conn, r.account_id) >= limits.concurrent
            ):
                await self.sim_reject(ev.call_id)
                return
            creds = _creds(config.callback_creds)
            settings = Settings(
                answer=Target(
                    config.call_initiated_callback_url,
                    "GET" if config.effective_initiated_method == "GET" else "POST",
                    creds,
                    config.call_initiated_fallback_url,
                    "GET" if config.effective_fallback_method == "GET" else "POST",
                    _creds(config.call_initiated_fallback_creds) or creds,
                ),
                disconnect=Target(
                    config.call_status_callback_url,
                    "GET" if config.effective_status_method == "GET" else "POST",
                    creds,
                )
                if config.call_status_callback_url
                else None,
                callback_timeout=config.effective_timeout,
                uui=ev.uui,
                display_name=ev.display_name,
            )
            call = Call(
                call_id=ev.call_id,
                account_id=r.account_id,
                application_id=r.app_id or "",
                direction="inbound",
                sender=ev.sender,
                to=ev.to,
                state="initiated",
                settings=settings,
                start_time=at,
                last_update=at,
                node=self.runtime.node,
                created_at=at,
            )
            await repo.insert(conn, self._row(call))
        await self.runtime.start_incoming(call, creds)

    async def sim_reject(self, call_id: str) -> None:
        await self.runtime.carrier.reject(call_id, "rejected")

    # --- recordings -------------------------------------------------------------------------

    async def recordings(
        self, account_id: str, call_id: str | None = None, **filters: Any
    ) -> list[Recording]:
        if call_id is not None:
            await self.get_call(account_id, call_id)
        async with self.db.connect() as conn:
            rows = await repo.recordings(conn, account_id, call_id=call_id, **filters)
        return [_recording(r) for r in rows]

    async def recording(self, account_id: str, call_id: str, recording_id: str) -> Recording:
        async with self.db.connect() as conn:
            row = await repo.recording(conn, account_id, call_id, recording_id)
        if row is None:
            raise NotFound(f"Recording {recording_id} not found")
        return _recording(row)

    async def recording_media(
        self, account_id: str, call_id: str, recording_id: str
    ) -> tuple[Recording, AsyncIterator[bytes]]:
        async with self.db.connect() as conn:
            row = await repo.recording(conn, account_id, call_id, recording_id)
        if row is None or not row["blob_ref"]:
            raise NotFound(f"Recording {recording_id} media not found")
        try:
            stream = await self.blobs.open(row["blob_ref"])
        except BlobMissing:
            raise NotFound(f"Recording {recording_id} media not found") from None
        return _recording(row), stream

    async def delete_recording(
        self, account_id: str, call_id: str, recording_id: str, *, media_only: bool = False
    ) -> None:
        async with self.db.begin() as conn:
            row = await repo.recording(conn, account_id, call_id, recording_id)
            if row is None:
                raise NotFound(f"Recording {recording_id} not found")
            refs = [row["blob_ref"]] if row["blob_ref"] else []
            if refs:
                await self.blobs.release(conn, refs)
            if media_only:
                await repo.clear_recording_media(conn, recording_id)
            else:
                await repo.delete_recording(conn, recording_id)
        if refs:
            await self.blobs.reclaim(refs)

    async def set_recording_state(self, account_id: str, call_id: str, paused: bool) -> None:
        call = await self.get_call(account_id, call_id)
        if not call.live or not await self.runtime.set_recording(call_id, paused):
            raise Conflict(f"Call {call_id} is not being recorded")

    # --- simulator control ------------------------------------------------------------------

    async def sim_dial(self, account_id: str, sender: str, to: str) -> str:
        """A handset calls one of the caller's numbers; the call's id is the callId the
        application sees."""
        handset = to_e164(sender, field="from")
        target = to_e164(to, field="to")
        async with self.db.connect() as conn:
            mine = await repo.route(conn, target)
            theirs = await repo.route(conn, handset)
        if theirs is not None and theirs.account_id == account_id:
            raise InvalidInput(
                f"from {handset} is a number of your account, not a handset; "
                "call from it with the Voice API",
                field="from",
            )
        if mine is None or mine.account_id != account_id:
            raise NotFound(f"{target} is not a number of your account")
        call_id = ids.call_id()
        await self.sim.dial(account_id, handset, target, call_id)
        return call_id

    async def _sim_call(self, account_id: str, call_id: str) -> Call:
        return await self.get_call(account_id, call_id)

    async def _handset(self, account_id: str, call_id: str, command: Any) -> None:
        """A handset's command on one of the caller's calls; the network's refusals as the
        API's errors (a call over is 404, a call not in the right state 409)."""
        await self._sim_call(account_id, call_id)
        try:
            await command
        except net.UnknownCall as exc:
            raise CallNotFound(str(exc)) from None
        except net.CallStateError as exc:
            raise Conflict(str(exc)) from None
        finally:
            command.close()

    async def sim_press(self, account_id: str, call_id: str, digits: str) -> None:
        await self._handset(account_id, call_id, self.sim.press(call_id, digits))

    async def sim_say(self, account_id: str, call_id: str, text: str) -> None:
        await self._handset(account_id, call_id, self.sim.say(call_id, text))

    async def sim_hang_up(self, account_id: str, call_id: str) -> None:
        await self._handset(account_id, call_id, self.sim.hang_up_handset(call_id))

    async def sim_answer(self, account_id: str, call_id: str) -> None:
        await self._handset(account_id, call_id, self.sim.answer_handset(call_id))

    async def sim_timeline(
        self, account_id: str, call_id: str
    ) -> tuple[Call, list[dict[str, Any]]]:
        call = await self._sim_call(account_id, call_id)
        await self.runtime.flush_history()  # lines of live calls not yet written
        async with self.db.connect() as conn:
            history = await repo.history(conn, call_id)
        return call, history

    async def sim_heard_wav(self, account_id: str, call_id: str, index: int) -> bytes:
        """A sentence the handset heard (timeline entry `index`), synthesised again (the
        speech cache usually has it) and written as WAV."""
        _, history = await self.sim_timeline(account_id, call_id)
        if not 0 <= index < len(history):
            raise NotFound(f"Call {call_id} has no timeline entry {index}")
        h = history[index]
        d = h["detail"]
        if h["kind"] != "heard" or d.get("kind") != "speech":
            raise NotFound(f"Timeline entry {index} of call {call_id} is not speech")
        audio = await self.runtime.speaker.speak(
            d["text"], voice=d.get("voice"), gender=d.get("gender"), locale=d.get("locale")
        )
        return audio_files.encode_wav(audio)

    # --- rows -------------------------------------------------------------------------------

    def _row(self, call: Call) -> dict[str, Any]:
        return {
            "id": call.call_id,
            "account_id": call.account_id,
            "application_id": call.application_id,
            "direction": call.direction,
            "from_tn": call.sender,
            "to_tn": call.to,
            "state": call.state,
            "priority": call.priority,
            "tag": call.tag,
            "settings": open_settings(call.settings.to_json(), self.sealer.seal),
            "parent_call_id": call.parent_call_id,
            "enqueued_time": call.enqueued_time,
            "start_time": call.start_time,
            "answer_time": call.answer_time,
            "end_time": call.end_time,
            "disconnect_cause": call.disconnect_cause,
            "error_message": call.error_message,
            "error_id": call.error_id,
            "last_update": call.last_update,
            "node": call.node,
            "lease_until": self.runtime.lease_until(),
            "created_at": call.created_at,
        }

    def _call(self, row: dict[str, Any]) -> Call:
        return call_from_row(row)

    async def keep_leases(self) -> None:
        """Renew this node's calls' leases, and end the calls of nodes that stopped renewing
        theirs, every third of the lease; and drop calls past their history's time hourly."""
        interval = self.settings.call_lease_seconds / 3
        purge_due = 0.0
        while True:
            try:
                await self.runtime.renew()
                await self.runtime.reap()
                if time.monotonic() >= purge_due:
                    await self.purge()
                    purge_due = time.monotonic() + 3600
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("call leases")
            await asyncio.sleep(interval)

    async def close(self) -> None:
        await self.runtime.close()

    async def purge(self) -> int:
        """Calls (and their history) that ended more than call_history_days ago, in batches
        of short transactions until none is left. Their recordings stay until deleted."""
        before = self.clock.now() - timedelta(days=self.settings.call_history_days)
        total = 0
        while True:
            async with self.db.begin() as conn:
                n = len(await repo.purge(conn, before))
            total += n
            if n < repo.PURGE_BATCH:
                return total


def _creds(c: Credentials | None) -> Creds | None:
    return Creds(c.user, c.password) if c and c.user else None


def _recording(row: dict[str, Any]) -> Recording:
    return Recording(
        recording_id=row["id"],
        call_id=row["call_id"],
        account_id=row["account_id"],
        application_id=row["application_id"],
        direction=row["direction"],
        sender=row["from_tn"],
        to=row["to_tn"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        duration=row["duration"],
        channels=row["channels"],
        file_format=row["file_format"],
        status=row["status"],
        size=row["size"],
        tag=row["tag"],
    )
