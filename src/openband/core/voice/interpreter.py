"""The BXML interpreter: one call's verbs as a state machine, with no I/O.

`Machine.feed(input) -> effects`: the runtime tells it what happened (a document to run, a
playback finished, a digit, a timer, a webhook's answer) and carries out what it asks (speak,
play, collect digits, fetch the next document, hang up). Everything it waits for is named by a
token of its own, so an input that arrives late — a timer for a Gather already over, the end of
a prompt cut short — is recognised and dropped. Tests drive it with plain values.

Verbs follow Bandwidth's BXML reference (api-docs site/docs/voice/bxml/*.mdx; bandwidth-api.md
§4): a document runs top to bottom; a verb that has a webhook URL ends the document and its
answer replaces it; a document that ends without one hangs up (an implicit <Hangup>).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from openband import bxml
from openband.audio import dtmf
from openband.clock import iso_duration
from openband.core.voice import effects as fx
from openband.core.voice.model import Creds, Target

# Documents fetched in a row with no verb that takes time (a Redirect loop): ended as
# application-error rather than fetched forever.
MAX_EMPTY_DOCUMENTS = 10
DTMF_KEYS = frozenset("0123456789*#ABCD")


def _creds(user: str | None, password: str | None) -> Creds | None:
    return Creds(user, password or "") if user else None


def webhook_target(
    url: str,
    base: str,
    method: str | None,
    fallback_url: str | None,
    fallback_method: str | None,
    creds: tuple[str | None, str | None],
    fallback_creds: tuple[str | None, str | None],
    default: Creds | None,
) -> Target:
    """A verb's webhook: URLs resolved against the document's URL; the verb's credentials,
    else the call's (`default`)."""
    return Target(
        url=urljoin(base, url),
        method="GET" if (method or "").upper() == "GET" else "POST",
        creds=_creds(*creds) or default,
        fallback_url=urljoin(base, fallback_url) if fallback_url else None,
        fallback_method="GET" if (fallback_method or "").upper() == "GET" else "POST",
        fallback_creds=_creds(*fallback_creds) or default,
    )


@dataclass(slots=True)
class _Gathering:
    verb: bxml.Gather
    prompts: list[str]  # playback ids still to finish, in order
    digits: str = ""
    timer: str | None = None
    done: bool = False


@dataclass(slots=True)
class _Recording:
    verb: bxml.Record
    recording_id: str
    timer: str | None = None
    stopping: bool = False


@dataclass(slots=True)
class Machine:
    """One call's interpreter. `answered` is whether the call is up (inbound calls are
    answered by the first verb that needs the line)."""

    call_id: str
    answered: bool
    creds: Creds | None = None  # the call's webhook credentials (request's or application's)
    tag: str | None = None
    verbs: tuple[bxml.Verb, ...] = ()
    pc: int = 0
    base_url: str = ""
    done: bool = False
    waiting: str | None = None  # the token the machine waits for, if any
    fetch: str | None = None  # the token of the webhook being fetched
    gathering: _Gathering | None = None
    recording: _Recording | None = None
    listening: bxml.StartGather | None = None  # StartGather: a dtmf webhook per digit
    call_recording: str | None = None  # StartRecording's recording id
    empty_documents: int = 0
    _seq: int = field(default=0)

    # --- public --------------------------------------------------------------------------

    def feed(self, event: fx.Input) -> list[fx.Effect]:
        if self.done:
            return []
        out: list[fx.Effect] = []
        match event:
            case fx.Begin(verbs=verbs, base_url=base):
                self._cancel_waits(out)
                self._load(verbs, base, out)
            case fx.Fetched(token=token, verbs=verbs, base_url=base) if token == self.fetch:
                self.fetch = None
                self._load(verbs, base, out)
            case fx.FetchFailed(token=token, cause=cause, message=message) if token == self.fetch:
                self.fetch = None
                self._end(out, cause, message)
            case fx.Played(playback_id=pid):
                self._played(pid, out)
            case fx.Digit(digit=d):
                self._digit(d, out)
            case fx.TimerFired(token=token):
                self._timer(token, out)
            case fx.Recorded() as rec:
                self._recorded(rec, out)
            case fx.Redirect(target=target):
                self._cancel_waits(out)
                self.verbs, self.pc = (), 0
                self._fetch("redirect", target, self.tag, {}, out)
            case fx.Ended():
                self.done = True
        return out

    @property
    def busy(self) -> bool:
        """A verb is still running: a playback, a timer, a webhook, a Gather or a Record."""
        return (
            self.waiting is not None
            or self.fetch is not None
            or self.gathering is not None
            or self.recording is not None
        )

    # --- documents -----------------------------------------------------------------------

    def _token(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def _load(self, verbs: tuple[bxml.Verb, ...], base: str, out: list[fx.Effect]) -> None:
        self.verbs, self.pc, self.base_url = verbs, 0, base
        self._run(out)

    def _run(self, out: list[fx.Effect]) -> None:
        """Run verbs until one waits for something, ends the document or the call."""
        while not self.done and not self.busy:
            if self.pc >= len(self.verbs):
                out.append(fx.Note("verb", {"verb": "Hangup", "implicit": True}))
                self._end(out, "hangup", None)
                return
            verb = self.verbs[self.pc]
            self.pc += 1
            out.append(fx.Note("verb", {"verb": type(verb).__name__}))
            self._verb(verb, out)

    def _verb(self, verb: bxml.Verb, out: list[fx.Effect]) -> None:
        match verb:
            case bxml.SpeakSentence() | bxml.PlayAudio():
                self._answer(out)
                self.empty_documents = 0
                self.waiting = self._play(verb, out)
            case bxml.Pause(duration=seconds):
                self._answer(out)
                self.empty_documents = 0
                self.waiting = self._token("t")
                out.append(fx.SetTimer(self.waiting, seconds))
            case bxml.Ring(duration=seconds, answer_call=answer_call):
                if answer_call:
                    self._answer(out)
                self.empty_documents = 0
                self.waiting = self._token("t")
                out.append(fx.SetTimer(self.waiting, seconds))
            case bxml.SendDtmf(digits=digits, tone_duration=tone, tone_interval=gap):
                self._answer(out)
                self.empty_documents = 0
                out.append(fx.SendDigits(digits, int(tone), int(gap)))
                self.waiting = self._token("t")
                out.append(fx.SetTimer(self.waiting, dtmf.seconds(digits, tone, gap)))
            case bxml.Hangup():
                self._end(out, "hangup", None)
            case bxml.Tag(value=value):
                self.tag = value or None
                out.append(fx.SetTag(self.tag))
            case bxml.Redirect():
                self._verb_tag(verb.tag, out)
                target = self._hook(
                    verb,
                    verb.redirect_url,
                    verb.redirect_method,
                    verb.redirect_fallback_url,
                    verb.redirect_fallback_method,
                )
                self._fetch("redirect", target, self.tag, {}, out)
            case bxml.Gather():
                self._answer(out)
                self.empty_documents = 0
                self._gather(verb, out)
            case bxml.StartGather():
                self._verb_tag(verb.tag, out)
                self.listening = verb
                out.append(fx.Collect(True))
            case bxml.StopGather():
                self.listening = None
                out.append(fx.Collect(False))
            case bxml.Record():
                self._answer(out)
                self.empty_documents = 0
                self._record(verb, out)
            case bxml.StartRecording():
                self._answer(out)
                self._verb_tag(verb.tag, out)
                if self.call_recording is None:
                    rid = self._recording_id()
                    self.call_recording = rid
                    out.append(fx.Record(rid, "start"))
                    available = None
                    if verb.recording_available_url:
                        available = self._hook(
                            verb, verb.recording_available_url, verb.recording_available_method
                        )
                    out.append(fx.KeepRecording(rid, verb.file_format, available, self.tag))
            case bxml.StopRecording():
                if self.call_recording is not None:
                    out.append(fx.Record(self.call_recording, "stop"))
                    self.call_recording = None
            case bxml.PauseRecording():
                if self.call_recording is not None:
                    out.append(fx.Record(self.call_recording, "pause"))
            case bxml.ResumeRecording():
                if self.call_recording is not None:
                    out.append(fx.Record(self.call_recording, "resume"))
            case _:
                # Transfer, Forward, Bridge, Conference, streams, transcription: the next issue.
                self._end(
                    out,
                    "application-error",
                    f"{type(verb).__name__} is not supported by this OpenBand version",
                )

    def _verb_tag(self, tag: str | None, out: list[fx.Effect]) -> None:
        """A verb's tag attribute is sent with its webhooks and all later ones, until another
        tag replaces it; tag="" clears it (gather.mdx, record.mdx, redirect.mdx …)."""
        if tag is None:
            return
        self.tag = tag or None
        out.append(fx.SetTag(self.tag))

    def _hook(
        self,
        verb: Any,
        url: str,
        method: str | None,
        fallback_url: str | None = None,
        fallback_method: str | None = None,
    ) -> Target:
        """A webhook of `verb` (its username/password, and its fallback's when it has a
        fallback URL), resolved against this document and defaulting to the call's creds."""
        fallback = (
            (verb.fallback_username, verb.fallback_password) if fallback_url else (None, None)
        )
        return webhook_target(
            url,
            self.base_url,
            method,
            fallback_url,
            fallback_method,
            (verb.username, verb.password),
            fallback,
            self.creds,
        )

    def _answer(self, out: list[fx.Effect]) -> None:
        if not self.answered:
            self.answered = True
            out.append(fx.Answer())

    def _play(self, verb: bxml.SpeakSentence | bxml.PlayAudio, out: list[fx.Effect]) -> str:
        pid = self._token("p")
        if isinstance(verb, bxml.SpeakSentence):
            out.append(fx.Speak(pid, verb.sentence, verb.voice, verb.gender, verb.locale))
        else:
            auth = (verb.username, verb.password or "") if verb.username else None
            out.append(fx.PlayFile(pid, urljoin(self.base_url, verb.url), auth))
        return pid

    def _fetch(
        self,
        event_type: str,
        target: Target,
        tag: str | None,
        extra: dict[str, object],
        out: list[fx.Effect],
    ) -> None:
        self.empty_documents += 1
        if self.empty_documents > MAX_EMPTY_DOCUMENTS:
            self._end(
                out,
                "application-error",
                f"{MAX_EMPTY_DOCUMENTS} documents in a row did nothing but fetch another "
                "(a redirect loop)",
            )
            return
        self.fetch = self._token("f")
        out.append(fx.FetchBxml(self.fetch, event_type, target, tag, dict(extra)))

    def _end(self, out: list[fx.Effect], cause: str, message: str | None) -> None:
        self._cancel_waits(out)
        self.done = True
        out.append(fx.HangUp(cause, message))

    def _cancel_waits(self, out: list[fx.Effect]) -> None:
        """Stop what the running verb waits for (a new document replaces it)."""
        if self.waiting is not None:
            if self.waiting.startswith("p"):
                out.append(fx.StopPlayback(self.waiting))
            else:
                out.append(fx.CancelTimer(self.waiting))
            self.waiting = None
        g = self.gathering
        if g is not None:
            for pid in g.prompts:
                out.append(fx.StopPlayback(pid))
            if g.timer:
                out.append(fx.CancelTimer(g.timer))
            self.gathering = None
            out.append(fx.Collect(self.listening is not None))
        r = self.recording
        if r is not None:
            # A Record still waiting for its Recorded (stopped by a digit or maxDuration) is over
            # too: the new document runs now, and the late Recorded is ignored (the recording is
            # still kept, and recordingAvailable sent, by the runtime's KeepRecording).
            if not r.stopping:
                if r.timer:
                    out.append(fx.CancelTimer(r.timer))
                out.append(fx.Collect(self.listening is not None))
                out.append(fx.Record(r.recording_id, "stop"))
            self.recording = None
        self.fetch = None

    def _played(self, pid: str, out: list[fx.Effect]) -> None:
        g = self.gathering
        if g is not None and pid in g.prompts:
            g.prompts.remove(pid)
            if not g.prompts and not g.done and g.timer is None:
                # Prompts over, nothing pressed: the first digit has firstDigitTimeout.
                g.timer = self._token("t")
                out.append(fx.SetTimer(g.timer, g.verb.first_digit_timeout))
            return
        if pid == self.waiting:
            self.waiting = None
            self._run(out)

    def _timer(self, token: str, out: list[fx.Effect]) -> None:
        if token == self.waiting:
            self.waiting = None
            self._run(out)
            return
        g = self.gathering
        if g is not None and token == g.timer:
            g.timer = None
            self._gathered(out, "")
            return
        r = self.recording
        if r is not None and token == r.timer:
            r.timer = None
            self._stop_record(out)

    # --- Gather ----------------------------------------------------------------------------

    def _gather(self, verb: bxml.Gather, out: list[fx.Effect]) -> None:
        self._verb_tag(verb.tag, out)
        g = _Gathering(verb, prompts=[])
        self.gathering = g
        out.append(fx.Collect(True))
        for _ in range(verb.repeat_count):
            for prompt in verb.prompts:
                g.prompts.append(self._play(prompt, out))
        if not g.prompts:
            g.timer = self._token("t")
            out.append(fx.SetTimer(g.timer, verb.first_digit_timeout))

    def _digit(self, d: str, out: list[fx.Effect]) -> None:
        out.append(fx.Note("dtmf", {"digit": d}))
        g = self.gathering
        if g is not None and not g.done:
            # The first digit cuts the prompts short.
            for pid in g.prompts:
                out.append(fx.StopPlayback(pid))
            g.prompts.clear()
            if g.timer:
                out.append(fx.CancelTimer(g.timer))
                g.timer = None
            if _terminates(d, g.verb.terminating_digits):
                self._gathered(out, d)
                return
            g.digits += d
            if len(g.digits) >= g.verb.max_digits:
                self._gathered(out, "")
                return
            g.timer = self._token("t")
            out.append(fx.SetTimer(g.timer, g.verb.inter_digit_timeout))
            return
        r = self.recording
        if r is not None and not r.stopping and _terminates(d, r.verb.terminating_digits):
            self._stop_record(out)
        # StartGather is paused during a Gather only (startGather.mdx): digits pressed during a
        # Record are reported too.
        if self.listening is not None:
            v = self.listening
            if v.dtmf_url:
                target = self._hook(v, v.dtmf_url, v.dtmf_method)
                out.append(fx.Notify("dtmf", target, self.tag, {"digit": d}))

    def _gathered(self, out: list[fx.Effect], terminating: str) -> None:
        g = self.gathering
        assert g is not None
        g.done = True
        for pid in g.prompts:
            out.append(fx.StopPlayback(pid))
        if g.timer:
            out.append(fx.CancelTimer(g.timer))
        self.gathering = None
        out.append(fx.Collect(self.listening is not None))
        out.append(fx.Note("gathered", {"digits": g.digits, "terminatingDigit": terminating}))
        v = g.verb
        if not v.gather_url:
            self._run(out)  # no gatherUrl: the document goes on
            return
        target = self._hook(
            v, v.gather_url, v.gather_method, v.gather_fallback_url, v.gather_fallback_method
        )
        extra = {"digits": g.digits, "terminatingDigit": terminating}
        self._fetch("gather", target, self.tag, extra, out)
        self.empty_documents = 0

    # --- Record ----------------------------------------------------------------------------

    def _recording_id(self) -> str:
        return f"r-{self.call_id[2:10]}-{self._token('')}-{self.pc}"

    def _record(self, verb: bxml.Record, out: list[fx.Effect]) -> None:
        self._verb_tag(verb.tag, out)
        r = _Recording(verb, self._recording_id())
        self.recording = r
        out.append(fx.Collect(True))
        out.append(fx.Record(r.recording_id, "start"))
        available = None
        if verb.recording_available_url:
            available = self._hook(
                verb, verb.recording_available_url, verb.recording_available_method
            )
        out.append(fx.KeepRecording(r.recording_id, verb.file_format, available, self.tag))
        r.timer = self._token("t")
        out.append(fx.SetTimer(r.timer, verb.max_duration))

    def _stop_record(self, out: list[fx.Effect]) -> None:
        r = self.recording
        assert r is not None
        r.stopping = True
        if r.timer:
            out.append(fx.CancelTimer(r.timer))
            r.timer = None
        out.append(fx.Collect(self.listening is not None))
        out.append(fx.Record(r.recording_id, "stop"))

    def _recorded(self, rec: fx.Recorded, out: list[fx.Effect]) -> None:
        r = self.recording
        if r is None or rec.recording_id != r.recording_id:
            return
        self.recording = None
        if not r.stopping:  # the carrier ended it (its own cap), not a digit or maxDuration
            if r.timer:
                out.append(fx.CancelTimer(r.timer))
            out.append(fx.Collect(self.listening is not None))
        v = r.verb
        if not v.record_complete_url:
            self._run(out)
            return
        target = self._hook(
            v,
            v.record_complete_url,
            v.record_complete_method,
            v.record_complete_fallback_url,
            v.record_complete_fallback_method,
        )
        extra = {
            "recordingId": rec.recording_id,
            "mediaUrl": rec.media_url,
            "duration": iso_duration(rec.duration),
            "startTime": rec.start_time,
            "endTime": rec.end_time,
            "fileFormat": rec.file_format,
            "channels": rec.channels,
        }
        self._fetch("recordComplete", target, self.tag, extra, out)
        self.empty_documents = 0


def _terminates(digit: str, terminating_digits: str) -> bool:
    """BXML allows a-d in terminatingDigits; the carrier reports A-D."""
    return bool(digit) and digit.upper() in terminating_digits.upper()
