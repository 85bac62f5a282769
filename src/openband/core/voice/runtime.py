"""Runs the calls this node owns: carrier events in, interpreter effects out.

For each live call it keeps the row's values, the interpreter (interpreter.Machine) and the
timers the interpreter set. A carrier event or a webhook's answer becomes an interpreter input
under the call's lock; the effects it returns are carried out in order: audio to the carrier,
BXML fetches (delivery.fetch, the call's callbackTimeout, fallback URL), webhooks that expect
no answer through the durable outbox, recordings into the blob store, and lifecycle changes
committed with their history. Timers are the clock's (one heap per node: the event loop's, or a
VirtualClock in tests), never a coroutine sleeping per call.

A call is owned by the node that placed or took it, under a lease renewed while it runs
(`renew`); a node that finds calls whose lease has passed ends them with disconnectCause
"error" and their disconnect webhook (`reap`), so nothing stays answered after its node died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

import orjson

from openband import bxml
from openband.audio import files as audio_files
from openband.audio.speech import SpeechError
from openband.clock import Clock, Timer, iso, iso_duration
from openband.core.voice import effects as fx
from openband.core.voice.interpreter import Machine
from openband.core.voice.model import Call, CallEvent, Creds, Settings, Target
from openband.delivery.fetch import Fetcher, FetchError, FetchTooLarge
from openband.delivery.outbox import Webhook, enqueue
from openband.network import voice as net
from openband.store import calls as repo
from openband.store.blobs import BlobStore, chunks_of

if TYPE_CHECKING:
    from openband.sealing import Sealer
    from openband.store.db import Database

log = logging.getLogger(__name__)

MAX_BXML = 64 * 1024
# History lines that come with no change of the call's row or webhook (a verb run, a sentence
# heard, a digit) are written for all calls together this long after the first of them: one
# transaction instead of one per call and batch of effects.
HISTORY_FLUSH_SECONDS = 0.05
MAX_AUDIO_FILE = 16 * 1024 * 1024
AUDIO_CACHE_BYTES = 64 * 1024 * 1024
RECORDING_CAP = 200 * 1024 * 1024


class Renderer(Protocol):
    """The API family's webhook body for a call event (Voice v2's JSON today)."""

    def __call__(self, event: CallEvent, public_base: str) -> dict[str, Any]: ...


def parse_bxml(body: bytes, root: str | None = "Response") -> tuple[bxml.Verb, ...]:
    """A webhook's answer (or PUT …/bxml's body) as verbs; bxml.BxmlError when invalid. An
    empty answer is an empty document (the call hangs up, as after any document's end)."""
    if not body.strip():
        return ()
    return bxml.parse_document(body, root=root).verbs


@dataclass(slots=True)
class Active:
    """A live call this node runs."""

    call: Call
    machine: Machine
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timers: dict[str, Timer] = field(default_factory=dict)
    keep: dict[str, fx.KeepRecording] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    ending: tuple[str, str | None] | None = None  # the cause we hung up with
    notes: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    playbacks: int = 0
    saving: bool = False  # a _save of this call is writing: the batch flush leaves it alone
    flushed: asyncio.Future[None] | None = None  # the batch flush writing this call's lines


class CallRuntime:
    def __init__(
        self,
        *,
        db: Database,
        carrier: net.VoiceCarrier,
        fetcher: Fetcher,
        speaker: net.Speaker,
        blobs: BlobStore,
        sealer: Sealer,
        clock: Clock,
        render: Renderer,
        public_base: str,
        node: str,
        lease_seconds: float,
        wake_delivery: Callable[[], None],
        retry_hours: float = 24.0,
    ) -> None:
        self.db = db
        self.carrier = carrier
        self.fetcher = fetcher
        self.speaker = speaker
        self.blobs = blobs
        self.sealer = sealer
        self.clock = clock
        self.render = render
        self.public_base = public_base.rstrip("/")
        self.node = node
        self.lease_seconds = lease_seconds
        self.wake_delivery = wake_delivery
        self.retry_hours = retry_hours
        self.active: dict[str, Active] = {}
        self._audio: OrderedDict[str, net.Audio] = OrderedDict()
        self._audio_bytes = 0
        self._incoming: Callable[[net.IncomingCall], Any] | None = None
        self._unwritten: dict[str, Active] = {}  # calls with history lines to write
        self._flush_timer: Timer | None = None
        self.flushes: set[asyncio.Task[None]] = set()

    # --- what core/voice/service hands over ------------------------------------------------

    def on_incoming(self, handler: Callable[[net.IncomingCall], Any]) -> None:
        """The service decides about an inbound call (route, limits) and adopts it."""
        self._incoming = handler

    def lease_until(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self.lease_seconds)

    async def adopt(self, call: Call, *, answered: bool, creds: Creds | None) -> Active:
        a = Active(call, Machine(call.call_id, answered=answered, creds=creds, tag=call.tag))
        self.active[call.call_id] = a
        return a

    async def queue(self, call: Call, creds: Creds | None, delay: float) -> None:
        """An outbound call whose row is committed (state queued): dialled `delay` seconds
        from now (the account's calls-per-second slot), unless it is ended before."""
        a = await self.adopt(call, answered=False, creds=creds)

        def dial() -> None:
            a.timers.pop("dial", None)
            self._spawn(a, self._place(a))

        if delay > 0:
            a.timers["dial"] = self.clock.call_later(delay, dial)
        else:
            dial()

    def _spawn(self, a: Active, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        a.tasks.add(task)
        task.add_done_callback(a.tasks.discard)

    async def _place(self, a: Active) -> None:
        call = a.call
        if call.state != "queued":
            return  # ended while it waited
        out = net.OutboundCall(
            call_id=call.call_id,
            account_id=call.account_id,
            sender=call.sender,
            to=call.to,
            ring_timeout=call.settings.call_timeout,
            display_name=call.settings.display_name,
            privacy=bool(call.settings.privacy),
            uui=call.settings.uui,
        )
        async with a.lock:
            if call.state != "queued":
                return
            at = self.clock.now()
            call.state, call.start_time = "initiated", at
            await self._save(a, state="initiated", start_time=at)
        try:
            await self.carrier.place(out)
        except Exception as exc:  # the network refused it outright
            log.warning("place %s failed: %s", call.call_id, exc)
            await self._disconnected(a, "error", str(exc))

    async def start_incoming(self, call: Call, creds: Creds | None) -> None:
        """An inbound call's row is committed: ask the application what to do (initiate)."""
        a = await self.adopt(call, answered=False, creds=creds)
        target = call.settings.answer
        async with a.lock:
            if target is None:
                await self._run(a, [fx.HangUp("application-error", "no initiate URL")])
                return
            a.machine.fetch = "f0"
            await self._run(a, [fx.FetchBxml("f0", "initiate", target, call.tag, {})])

    async def redirect(self, call_id: str, target: Target) -> bool:
        a = self.active.get(call_id)
        if a is None:
            return False
        await self._feed(a, fx.Redirect(target))
        return True

    async def replace(self, call_id: str, verbs: tuple[bxml.Verb, ...]) -> bool:
        a = self.active.get(call_id)
        if a is None:
            return False
        await self._feed(a, fx.Begin(verbs, a.machine.base_url))
        return True

    async def hang_up(self, call_id: str) -> bool:
        """POST …/calls/{id} state completed: hang up (cancel if not answered yet)."""
        a = self.active.get(call_id)
        if a is None:
            return False
        if a.call.state == "queued":  # never dialled: it ends here
            await self._disconnected(a, "cancel", None)
            return True
        async with a.lock:
            cause = "hangup" if a.call.state == "answered" else "cancel"
            await self._run(a, [fx.HangUp(cause, None)])
        return True

    async def set_recording(self, call_id: str, paused: bool) -> bool:
        """PUT …/calls/{id}/recording: pause or resume the call's StartRecording."""
        a = self.active.get(call_id)
        if a is None or a.machine.call_recording is None:
            return False
        async with a.lock:
            action = "pause" if paused else "resume"
            await self.carrier.record(call_id, a.machine.call_recording, action)
        return True

    # --- carrier events (network.voice.VoiceEvents) ----------------------------------------

    async def event(self, event: net.VoiceEvent) -> None:
        if isinstance(event, net.IncomingCall):
            if self._incoming is not None:
                await self._incoming(event)
            return
        a = self.active.get(event.call_id)
        if a is None:
            return  # a call this node no longer runs (ended, or another node's)
        match event:
            case net.Answered(at=at):
                await self._answered(a, at)
            case net.Dtmf(digit=d):
                await self._feed(a, fx.Digit(d))
            case net.PlaybackDone(playback_id=pid, interrupted=cut):
                await self._feed(a, fx.Played(pid, cut))
            case net.RecordingDone():
                await self._recording_done(a, event)
            case net.Disconnected(cause=cause, error=error):
                await self._disconnected(a, cause, error)
            case net.Ringing(at=at):
                async with a.lock:
                    a.notes.append((at, "ringing", {}))

    async def _answered(self, a: Active, at: datetime) -> None:
        async with a.lock:
            call = a.call
            call.state, call.answer_time = "answered", at
            a.notes.append((at, "answered", {}))
            await self._save(a, state="answered", answer_time=at)
            if call.direction == "outbound" and not a.machine.answered:
                a.machine.answered = True
                target = call.settings.answer
                if target is None:
                    await self._run(a, [fx.HangUp("application-error", "no answer URL")])
                    return
                a.machine.fetch = "f0"
                await self._run(a, [fx.FetchBxml("f0", "answer", target, call.tag, {})])

    async def _disconnected(self, a: Active, cause: str, error: str | None) -> None:
        async with a.lock:
            if a.call.state == "disconnected":
                return
            a.machine.feed(fx.Ended())
            for t in a.timers.values():
                t.cancel()
            a.timers.clear()
            me = asyncio.current_task()
            for task in a.tasks:
                if task is not me:
                    task.cancel()
            if a.ending is not None:
                cause, error = a.ending
            at = self.clock.now()
            call = a.call
            call.state, call.end_time = "disconnected", at
            call.disconnect_cause, call.error_message = cause, error
            a.notes.append((at, "end", {"cause": cause, "errorMessage": error}))
            extra = {"endTime": iso(at), "cause": cause}
            if error:
                extra["errorMessage"] = error
            hooks = []
            if call.settings.disconnect is not None:
                hooks.append(("disconnect", call.settings.disconnect, call.tag, extra))
            await self._save(
                a,
                hooks=hooks,
                state="disconnected",
                end_time=at,
                disconnect_cause=cause,
                error_message=error,
                node=None,
                lease_until=None,
            )
            self.active.pop(call.call_id, None)

    async def _recording_done(self, a: Active, ev: net.RecordingDone) -> None:
        keep = a.keep.pop(ev.recording_id, None)
        fmt = keep.file_format if keep else "wav"
        encode = audio_files.encode_mp3 if fmt == "mp3" else audio_files.encode_wav
        data = await asyncio.to_thread(encode, ev.audio)  # MP3: ~1.5 ms of CPU per second
        call = a.call
        async with self.db.begin() as conn:
            # Written on `conn`: part of this transaction (a PostgreSQL large object), or a
            # file the sweep removes if the commit fails; never a pending upload to adopt.
            blob = await self.blobs.put(chunks_of(data), RECORDING_CAP, conn)
            await repo.insert_recording(
                conn,
                {
                    "id": ev.recording_id,
                    "call_id": call.call_id,
                    "account_id": call.account_id,
                    "application_id": call.application_id,
                    "direction": call.direction,
                    "from_tn": call.sender,
                    "to_tn": call.to,
                    "start_time": ev.started_at,
                    "end_time": ev.ended_at,
                    "duration": ev.audio.seconds,
                    "channels": 1,
                    "file_format": fmt,
                    "status": "complete",
                    "size": blob.size,
                    "blob_ref": blob.ref,
                    "tag": keep.tag if keep else None,
                    "created_at": self.clock.now(),
                },
            )
        media_url = recording_media_url(
            self.public_base, call.account_id, call.call_id, ev.recording_id
        )
        meta = {
            "recordingId": ev.recording_id,
            "mediaUrl": media_url,
            "startTime": iso(ev.started_at),
            "endTime": iso(ev.ended_at),
            "duration": iso_duration(ev.audio.seconds),
            "fileFormat": fmt,
            "channels": 1,
            "status": "complete",
        }
        async with a.lock:
            a.notes.append((self.clock.now(), "recording", dict(meta)))
            if keep is not None and keep.available is not None:
                await self._save(a, hooks=[("recordingAvailable", keep.available, keep.tag, meta)])
        if call.state != "disconnected" and not ev.call_ended:  # no recordComplete on hang-up
            await self._feed(
                a,
                fx.Recorded(
                    ev.recording_id,
                    ev.audio.seconds,
                    media_url,
                    iso(ev.started_at) or "",
                    iso(ev.ended_at) or "",
                    fmt,
                    1,
                ),
            )

    # --- interpreter ------------------------------------------------------------------------

    async def _feed(self, a: Active, event: fx.Input) -> None:
        async with a.lock:
            if a.call.state == "disconnected":
                return
            await self._run(a, a.machine.feed(event))

    async def _run(self, a: Active, effects: list[fx.Effect]) -> None:
        """Carry out effects in order (the call's lock is held)."""
        call = a.call
        hooks: list[tuple[str, Target, str | None, dict[str, Any]]] = []
        for e in effects:
            at = self.clock.now()
            match e:
                case fx.Note(kind=kind, detail=detail):
                    a.notes.append((at, kind, detail))
                case fx.Answer():
                    await self.carrier.answer(call.call_id)
                case fx.Speak():
                    a.playbacks += 1
                    try:
                        audio = await self.speaker.speak(
                            e.text, voice=e.voice, gender=e.gender, locale=e.locale
                        )
                    except SpeechError as exc:
                        # The sentence is skipped, as a file that cannot be played; the
                        # history and the log say why (espeak-ng missing is the operator's).
                        log.error("speech failed on %s: %s", call.call_id, exc)
                        a.notes.append((at, "speak-failed", {"text": e.text, "error": str(exc)}))
                        await self._run(a, a.machine.feed(fx.Played(e.playback_id, True)))
                        continue
                    a.notes.append(
                        (
                            at,
                            "heard",
                            {
                                "kind": "speech",
                                "text": e.text,
                                "voice": e.voice,
                                "gender": e.gender,
                                "locale": e.locale,
                                "seconds": round(audio.seconds, 3),
                                "playback": e.playback_id,
                            },
                        )
                    )
                    await self.carrier.play(call.call_id, e.playback_id, audio)
                case fx.PlayFile(playback_id=pid, url=url, auth=auth):
                    try:
                        audio = await self._file(url, auth, call.settings.callback_timeout)
                    except (FetchError, audio_files.AudioError) as exc:
                        # Bandwidth skips a file it cannot play; the history says why.
                        a.notes.append((at, "play-failed", {"url": url, "error": str(exc)}))
                        await self._run(a, a.machine.feed(fx.Played(pid, True)))
                        continue
                    a.notes.append(
                        (
                            at,
                            "heard",
                            {"kind": "file", "url": url, "seconds": round(audio.seconds, 3)},
                        )
                    )
                    await self.carrier.play(call.call_id, pid, audio)
                case fx.StopPlayback(playback_id=pid):
                    await self.carrier.stop_playback(call.call_id, pid)
                case fx.Collect(enabled=on):
                    await self.carrier.collect_dtmf(call.call_id, on)
                case fx.SetTimer(token=token, seconds=seconds):
                    self._set_timer(a, token, seconds)
                case fx.CancelTimer(token=token):
                    t = a.timers.pop(token, None)
                    if t is not None:
                        t.cancel()
                case fx.FetchBxml():
                    task = asyncio.get_running_loop().create_task(self._fetch(a, e))
                    a.tasks.add(task)
                    task.add_done_callback(a.tasks.discard)
                case fx.Notify(event_type=kind, target=target, tag=tag, extra=extra):
                    hooks.append((kind, target, tag, extra))
                case fx.SendDigits(digits=digits, tone_ms=tone, gap_ms=gap):
                    a.notes.append((at, "sent-dtmf", {"digits": digits}))
                    await self.carrier.send_dtmf(call.call_id, digits, tone, gap)
                case fx.Record(recording_id=rid, action=action):
                    a.notes.append((at, "record", {"recordingId": rid, "action": action}))
                    await self.carrier.record(call.call_id, rid, action)
                case fx.KeepRecording(recording_id=rid):
                    a.keep[rid] = e
                case fx.SetTag(tag=tag):
                    call.tag = tag
                    await self._save(a, tag=tag)
                case fx.HangUp(cause=cause, error_message=message):
                    if a.ending is None:
                        a.ending = (cause, message)
                    if call.state == "disconnected":
                        continue
                    # The machine's answered, not the row's state: an Answer sent in this same
                    # batch has not come back from the carrier as Answered yet.
                    if call.direction == "inbound" and not a.machine.answered:
                        await self.carrier.reject(call.call_id, "rejected")
                    else:
                        await self.carrier.hang_up(call.call_id)
        if hooks:
            await self._save(a, hooks=hooks)
        elif a.notes:
            self._defer_history(a)

    def _set_timer(self, a: Active, token: str, seconds: float) -> None:
        def fire() -> None:
            a.timers.pop(token, None)
            task = asyncio.get_running_loop().create_task(self._feed(a, fx.TimerFired(token)))
            a.tasks.add(task)
            task.add_done_callback(a.tasks.discard)

        a.timers[token] = self.clock.call_later(seconds, fire)

    # --- webhooks ---------------------------------------------------------------------------

    async def _fetch(self, a: Active, e: fx.FetchBxml) -> None:
        """A webhook that answers with BXML: the URL, then its fallback; the answer goes back
        to the interpreter as Fetched or FetchFailed."""
        call = a.call
        body = self.render(
            CallEvent(e.event_type, call, self.clock.now(), {**e.extra, "tag": e.tag}),
            self.public_base,
        )
        t = e.target
        tries = [(t.url, t.method, t.creds)]
        if t.fallback_url:
            tries.append((t.fallback_url, t.fallback_method, t.fallback_creds or t.creds))
        errors: list[str] = []
        result: fx.Input | None = None
        for url, method, creds in tries:
            at = self.clock.now()
            try:
                res = await self._request(url, method, body, creds, call.settings.callback_timeout)
            except FetchTooLarge as exc:
                result = fx.FetchFailed(
                    e.token, "invalid-bxml", f"BXML larger than 64 KB ({exc.url})"
                )
                break
            except FetchError as exc:
                errors.append(str(exc))
                a.notes.append(
                    (at, "webhook", {"eventType": e.event_type, "url": url, "error": str(exc)})
                )
                continue
            text = res.body.decode("utf-8", "replace")
            a.notes.append(
                (
                    at,
                    "webhook",
                    {
                        "eventType": e.event_type,
                        "url": url,
                        "status": res.status,
                        "ms": round(res.elapsed_ms, 1),
                        "bxml": text,
                    },
                )
            )
            try:
                verbs = parse_bxml(res.body)
            except bxml.BxmlError as exc:
                result = fx.FetchFailed(e.token, "invalid-bxml", str(exc))
            else:
                result = fx.Fetched(e.token, verbs, res.url)
            break
        if result is None:
            result = fx.FetchFailed(e.token, "callback-error", "; ".join(errors)[:1000])
        await self._feed(a, result)

    async def _request(
        self, url: str, method: str, body: dict[str, Any], creds: Creds | None, timeout: float
    ) -> Any:
        auth = (creds.username, creds.password) if creds else None
        if method == "GET":
            parts = urlsplit(url)
            query = urlencode({k: _query_value(v) for k, v in body.items() if v is not None})
            joined = f"{parts.query}&{query}" if parts.query else query
            return await self.fetcher.fetch(
                urlunsplit(parts._replace(query=joined)),
                method="GET",
                auth=auth,
                timeout=timeout,
                max_bytes=MAX_BXML,
            )
        return await self.fetcher.fetch(
            url,
            method="POST",
            body=orjson.dumps(body),
            content_type="application/json",
            auth=auth,
            timeout=timeout,
            max_bytes=MAX_BXML,
        )

    async def _file(self, url: str, auth: tuple[str, str] | None, timeout: float) -> net.Audio:
        """A PlayAudio file, fetched through delivery (SSRF policy) and cached by URL."""
        cached = self._audio.get(url)
        if cached is not None and auth is None:
            self._audio.move_to_end(url)
            return cached
        res = await self.fetcher.fetch(
            url, auth=auth, timeout=max(timeout, 30.0), max_bytes=MAX_AUDIO_FILE
        )
        audio = await asyncio.to_thread(audio_files.decode, res.body, res.content_type)
        audio = net.Audio(audio.pcm, audio.rate, url)
        if auth is None:
            self._audio[url] = audio
            self._audio_bytes += len(audio.pcm)
            while self._audio_bytes > AUDIO_CACHE_BYTES and self._audio:
                _, old = self._audio.popitem(last=False)
                self._audio_bytes -= len(old.pcm)
        return audio

    # --- persistence ------------------------------------------------------------------------

    async def _save(
        self,
        a: Active,
        hooks: list[tuple[str, Target, str | None, dict[str, Any]]] | None = None,
        **values: Any,
    ) -> None:
        """One transaction: the call's changed fields, its new history lines and the webhooks
        the change raised (the outbox)."""
        call = a.call
        if a.flushed is not None:  # lines of this call in a batch being written go first
            await asyncio.shield(a.flushed)
        at = self.clock.now()
        webhooks = []
        for kind, target, tag, extra in hooks or ():
            body = self.render(CallEvent(kind, call, at, {**extra, "tag": tag}), self.public_base)
            webhooks.append(_webhook(call, kind, target, body))
            a.notes.append((at, "webhook", {"eventType": kind, "url": target.url, "async": True}))
        notes, a.notes = a.notes, []
        self._unwritten.pop(call.call_id, None)
        a.saving = True
        try:
            async with self.db.begin() as conn:
                if values:
                    await repo.set_fields(conn, call.call_id, last_update=at, **values)
                await repo.add_history(conn, [(call.call_id, t, k, d) for t, k, d in notes])
                if webhooks:
                    await enqueue(conn, webhooks, sealer=self.sealer, retry_hours=self.retry_hours)
        finally:
            a.saving = False
        if webhooks:
            self.wake_delivery()

    def _defer_history(self, a: Active) -> None:
        self._unwritten[a.call.call_id] = a
        if self._flush_timer is None:
            self._flush_timer = self.clock.call_later(HISTORY_FLUSH_SECONDS, self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_timer = None
        task = asyncio.get_running_loop().create_task(self.flush_history())
        self.flushes.add(task)
        task.add_done_callback(self.flushes.discard)

    async def flush_history(self) -> None:
        """Write the history lines waiting to be written, of every call, in one transaction
        (GET /sim/v1/calls/{id} calls it first, so a timeline read here is complete). A call
        whose own save is writing keeps its lines for the next flush, so a call's lines are
        committed in the order they were made."""
        batch = {cid: a for cid, a in self._unwritten.items() if not a.saving}
        for cid in batch:
            del self._unwritten[cid]
        entries = []
        for a in batch.values():
            notes, a.notes = a.notes, []
            entries += [(a.call.call_id, t, k, d) for t, k, d in notes]
        if self._unwritten and self._flush_timer is None:
            self._flush_timer = self.clock.call_later(HISTORY_FLUSH_SECONDS, self._flush_soon)
        if not entries:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for a in batch.values():
            a.flushed = done
        try:
            async with self.db.begin() as conn:
                await repo.add_history(conn, entries)
        finally:
            done.set_result(None)
            for a in batch.values():
                if a.flushed is done:
                    a.flushed = None

    # --- leases -----------------------------------------------------------------------------

    async def renew(self) -> None:
        if not self.active:
            return
        async with self.db.begin() as conn:
            await repo.renew_leases(conn, self.node, list(self.active), self.lease_until())

    async def reap(self) -> int:
        """End the calls of nodes whose lease passed (they died): disconnectCause "error" and
        their disconnect webhook, so nothing stays answered forever."""
        at = self.clock.now()
        ended = 0
        async with self.db.begin() as conn:
            for row in await repo.orphaned(conn, at):
                if row["id"] in self.active:
                    continue
                call = call_from_row(row, self.sealer)
                message = f"the node running the call ({row['node']}) stopped"
                call.state, call.end_time = "disconnected", at
                call.disconnect_cause, call.error_message = "error", message
                await repo.set_fields(
                    conn,
                    call.call_id,
                    state="disconnected",
                    end_time=at,
                    disconnect_cause="error",
                    error_message=message,
                    last_update=at,
                    node=None,
                    lease_until=None,
                )
                await repo.add_history(
                    conn, [(call.call_id, at, "end", {"cause": "error", "errorMessage": message})]
                )
                target = call.settings.disconnect
                if target is not None:
                    extra = {"endTime": iso(at), "cause": "error", "errorMessage": message}
                    body = self.render(
                        CallEvent("disconnect", call, at, {**extra, "tag": call.tag}),
                        self.public_base,
                    )
                    await enqueue(
                        conn,
                        [_webhook(call, "disconnect", target, body)],
                        sealer=self.sealer,
                        retry_hours=self.retry_hours,
                    )
                ended += 1
        if ended:
            log.warning("ended %d calls of nodes that stopped", ended)
            self.wake_delivery()
        return ended

    async def close(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        with contextlib.suppress(Exception):
            await self.flush_history()
        for a in list(self.active.values()):
            for t in a.timers.values():
                t.cancel()
            for task in a.tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*a.tasks, return_exceptions=True)


def _webhook(call: Call, kind: str, target: Target, body: dict[str, Any]) -> Webhook:
    """An outbox entry for a webhook that expects no BXML; a call's go out in order."""
    return Webhook(
        account_id=call.account_id,
        application_id=call.application_id,
        kind="voice",
        url=target.url,
        body=orjson.dumps(body).decode(),
        event_type=kind,
        ordering_key=call.call_id,
        auth=(target.creds.username, target.creds.password) if target.creds else None,
    )


def call_from_row(row: dict[str, Any], sealer: Sealer | None = None) -> Call:
    """A stored call. With `sealer`, its webhook passwords opened (to send webhooks); without,
    they stay sealed (to render the call, which never shows them)."""
    stored = row["settings"]
    settings = settings_of(row, sealer) if sealer is not None else Settings.from_json(stored)
    return Call(
        call_id=row["id"],
        account_id=row["account_id"],
        application_id=row["application_id"],
        direction=row["direction"],
        sender=row["from_tn"],
        to=row["to_tn"],
        state=row["state"],
        settings=settings,
        enqueued_time=row["enqueued_time"],
        start_time=row["start_time"],
        answer_time=row["answer_time"],
        end_time=row["end_time"],
        disconnect_cause=row["disconnect_cause"],
        error_message=row["error_message"],
        error_id=row["error_id"],
        last_update=row["last_update"],
        priority=row["priority"],
        tag=row["tag"],
        parent_call_id=row["parent_call_id"],
        node=row["node"],
        created_at=row["created_at"],
    )


def recording_media_url(base: str, account_id: str, call_id: str, recording_id: str) -> str:
    return f"{base}/api/v2/accounts/{account_id}/calls/{call_id}/recordings/{recording_id}/media"


def _query_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict | list):
        return orjson.dumps(v).decode()
    return str(v)


def settings_of(row: dict[str, Any], sealer: Sealer) -> Settings:
    """A stored call's settings, its passwords opened."""
    return Settings.from_json(open_settings(row["settings"], sealer.open))


def _map_creds(d: dict[str, Any] | None, fn: Callable[[str], str]) -> dict[str, Any] | None:
    if not d:
        return d
    out = dict(d)
    for key in ("creds", "fallbackCreds"):
        c = out.get(key)
        if c and c.get("password"):
            out[key] = {**c, "password": fn(c["password"])}
    return out


def open_settings(stored: dict[str, Any], fn: Callable[[str], str]) -> dict[str, Any]:
    """The settings with every webhook password passed through `fn` (seal to store, open to
    use): the answer and disconnect targets' and machineDetection's."""
    md = stored.get("machineDetection")
    if isinstance(md, dict):
        md = {
            k: fn(v) if k in _MD_SECRETS and isinstance(v, str) and v else v for k, v in md.items()
        }
    return {
        **stored,
        "answer": _map_creds(stored.get("answer"), fn),
        "disconnect": _map_creds(stored.get("disconnect"), fn),
        "machineDetection": md,
    }


_MD_SECRETS = frozenset({"password", "fallbackPassword"})
