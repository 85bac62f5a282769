"""core/voice/interpreter.py: the BXML state machine, driven with plain inputs.

Documents are parsed from BXML text (openband.bxml.parse_document), fed as `Begin`/`Fetched`, and
each input's effects are compared in full. Tokens (p1, t2, f3 …) are the machine's own sequence,
so the expected lists name them exactly. `acts` drops the history lines (Note) where a test is
about what the runtime must do; a few tests check the Notes themselves.

Semantics: Bandwidth's BXML (bandwidth-api.md §4; api-docs site/docs/voice/bxml/*.mdx).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import pytest

from openband.audio.dtmf import tones
from openband.bxml import parse_document
from openband.core.voice import effects as fx
from openband.core.voice.interpreter import MAX_EMPTY_DOCUMENTS, Machine
from openband.core.voice.model import Creds, Target

CALL = "c-0123456789abcdef"
BASE = "https://app.example.com/voice/answer"
CALL_CREDS = Creds("call-user", "call-pass")
STARTED = "2026-03-01T12:00:01.000Z"
ENDED = "2026-03-01T12:00:05.980Z"
MEDIA = f"https://ob.example/api/v2/accounts/1/calls/{CALL}/recordings/r/media"


def doc(body: str) -> tuple[Any, ...]:
    return parse_document(f"<Response>{body}</Response>", root="Response").verbs


def url(path: str) -> str:
    return urljoin(BASE, path)


def acts(effects: list[fx.Effect]) -> list[fx.Effect]:
    """The effects without the history lines."""
    return [e for e in effects if not isinstance(e, fx.Note)]


def start(
    body: str, *, answered: bool = True, creds: Creds | None = None, tag: str | None = None
) -> tuple[Machine, list[fx.Effect]]:
    m = Machine(CALL, answered=answered, creds=creds, tag=tag)
    return m, acts(m.feed(fx.Begin(doc(body), BASE)))


def speak(pid: str, text: str, voice: str | None = None) -> fx.Speak:
    return fx.Speak(pid, text, voice, "female", "en_US")


def recorded(rid: str, seconds: float = 4.98, fmt: str = "wav") -> fx.Recorded:
    return fx.Recorded(rid, seconds, MEDIA, STARTED, ENDED, fmt, 1)


def rid_of(effects: list[fx.Effect]) -> str:
    [rid] = {e.recording_id for e in effects if isinstance(e, fx.Record)}
    return rid


HANGUP = fx.HangUp("hangup", None)
IMPLICIT = fx.Note("verb", {"verb": "Hangup", "implicit": True})


# --- SpeakSentence, PlayAudio -----------------------------------------------------------------


def test_speech_answers_an_unanswered_inbound_call_first_and_waits_for_played() -> None:
    m = Machine(CALL, answered=False)
    body = (
        '<SpeakSentence voice="julie">Hello there</SpeakSentence>'
        '<SpeakSentence gender="male" locale="en_UK">Bye</SpeakSentence>'
    )
    assert m.feed(fx.Begin(doc(body), BASE)) == [
        fx.Note("verb", {"verb": "SpeakSentence"}),
        fx.Answer(),
        fx.Speak("p1", "Hello there", "julie", "female", "en_US"),
    ]
    assert m.answered
    # Answered once: the second sentence only speaks, and only after the first was played.
    assert m.feed(fx.Played("p1")) == [
        fx.Note("verb", {"verb": "SpeakSentence"}),
        fx.Speak("p2", "Bye", None, "male", "en_UK"),
    ]
    assert m.feed(fx.Played("p2")) == [IMPLICIT, HANGUP]
    assert m.done


def test_an_answered_call_is_not_answered_again() -> None:
    _, out = start("<SpeakSentence>Hi</SpeakSentence>")
    assert out == [speak("p1", "Hi")]


def test_speech_keeps_its_ssml_markup() -> None:
    ssml = 'Call <say-as interpret-as="telephone">2025551212</say-as>'
    _, out = start(f"<SpeakSentence>{ssml}</SpeakSentence>")
    assert out == [speak("p1", ssml)]


def test_the_next_verb_runs_only_after_its_playback_is_played() -> None:
    m, out = start('<SpeakSentence>One</SpeakSentence><Pause duration="2"/>')
    assert out == [speak("p1", "One")]
    assert m.feed(fx.Played("p9")) == []  # not ours
    assert acts(m.feed(fx.Digit("1"))) == []
    assert m.feed(fx.TimerFired("t1")) == []  # no such timer
    assert acts(m.feed(fx.Played("p1"))) == [fx.SetTimer("t2", 2.0)]
    assert acts(m.feed(fx.TimerFired("t2"))) == [HANGUP]


def test_play_audio_urls_resolve_against_the_documents_url_with_their_credentials() -> None:
    m, out = start(
        "<PlayAudio>../media/hello.wav</PlayAudio>"
        '<PlayAudio username="u" password="p">greeting.mp3</PlayAudio>'
        '<PlayAudio username="only">/x.wav</PlayAudio>'
        "<PlayAudio>https://cdn.example.net/a.wav</PlayAudio>"
    )
    assert out == [fx.PlayFile("p1", "https://app.example.com/media/hello.wav", None)]
    assert acts(m.feed(fx.Played("p1"))) == [
        fx.PlayFile("p2", "https://app.example.com/voice/greeting.mp3", ("u", "p"))
    ]
    assert acts(m.feed(fx.Played("p2"))) == [
        fx.PlayFile("p3", "https://app.example.com/x.wav", ("only", ""))
    ]
    assert acts(m.feed(fx.Played("p3"))) == [
        fx.PlayFile("p4", "https://cdn.example.net/a.wav", None)
    ]
    # A playback the runtime could not play comes back interrupted: the document goes on.
    assert acts(m.feed(fx.Played("p4", interrupted=True))) == [HANGUP]


# --- Pause, Ring, SendDtmf, Tag, Hangup ---------------------------------------------------------


def test_pause_answers_and_waits_on_a_timer() -> None:
    m, out = start('<Pause duration="2.5"/><Hangup/>', answered=False)
    assert out == [fx.Answer(), fx.SetTimer("t1", 2.5)]
    assert acts(m.feed(fx.TimerFired("t1"))) == [HANGUP]


def test_ring_answers_unless_answer_call_is_false() -> None:
    m, out = start('<Ring duration="3"/>', answered=False)
    assert out == [fx.Answer(), fx.SetTimer("t1", 3.0)]
    m, out = start('<Ring duration="3" answerCall="false"/>', answered=False)
    assert out == [fx.SetTimer("t1", 3.0)]
    assert not m.answered
    assert acts(m.feed(fx.TimerFired("t1"))) == [HANGUP]  # the runtime rejects it


def test_send_dtmf_sends_the_digits_and_waits_while_they_play() -> None:
    m, out = start('<SendDtmf toneDuration="100" toneInterval="150">12#</SendDtmf>', answered=False)
    assert out == [fx.Answer(), fx.SendDigits("12#", 100, 150), fx.SetTimer("t1", 0.75)]
    assert acts(m.feed(fx.TimerFired("t1"))) == [HANGUP]


@pytest.mark.parametrize(
    ("digits", "tone", "gap"),
    [
        ("1", 200, 400),
        ("123", 50, 50),
        ("1,2", 200, 400),
        ("1w2W3", 200, 400),
        ("W1", 100, 300),
        (",,9", 200, 400),
        ("12ww", 250, 100),
        ("a#", 200, 400),
    ],
)
def test_send_dtmf_waits_exactly_as_long_as_the_carriers_tones_last(
    digits: str, tone: int, gap: int
) -> None:
    """The timer that holds the next verb back matches the audio the carrier plays for the digits
    (audio.dtmf.tones): `,` and `w` are half-second pauses, `W` a second, replacing a tone's gap."""
    _, out = start(f'<SendDtmf toneDuration="{tone}" toneInterval="{gap}">{digits}</SendDtmf>')
    [timer] = [e for e in out if isinstance(e, fx.SetTimer)]
    assert timer.seconds == pytest.approx(tones(digits, tone_ms=tone, gap_ms=gap).seconds)


def test_a_comma_in_send_dtmf_is_a_half_second_pause_not_a_digit() -> None:
    _, out = start("<SendDtmf>1,2</SendDtmf>")
    assert out == [fx.SendDigits("1,2", 200, 400), fx.SetTimer("t1", pytest.approx(1.3))]


def test_tag_sets_and_a_blank_tag_clears() -> None:
    m, out = start('<Tag>sales</Tag><Redirect redirectUrl="/r"/>')
    assert out == [fx.SetTag("sales"), fx.FetchBxml("f1", "redirect", Target(url("/r")), "sales")]
    assert m.tag == "sales"
    assert acts(m.feed(fx.Fetched("f1", doc("<Tag>  </Tag><Tag></Tag>"), BASE))) == [
        fx.SetTag(None),
        fx.SetTag(None),
        HANGUP,
    ]
    assert m.tag is None


def test_hangup_ends_the_document_and_the_machine() -> None:
    m = Machine(CALL, answered=False)
    assert m.feed(fx.Begin(doc("<Hangup/><SpeakSentence>never</SpeakSentence>"), BASE)) == [
        fx.Note("verb", {"verb": "Hangup"}),
        HANGUP,  # no Answer: the runtime rejects a ringing inbound call
    ]
    assert m.done
    assert m.feed(fx.Begin(doc("<SpeakSentence>again</SpeakSentence>"), BASE)) == []


def test_a_document_that_ends_hangs_up() -> None:
    m = Machine(CALL, answered=True)
    assert m.feed(fx.Begin(doc('<Tag>x</Tag><StartGather dtmfUrl="/d"/>'), BASE)) == [
        fx.Note("verb", {"verb": "Tag"}),
        fx.SetTag("x"),
        fx.Note("verb", {"verb": "StartGather"}),
        fx.Collect(True),
        IMPLICIT,
        HANGUP,
    ]
    empty = Machine(CALL, answered=True)
    assert empty.feed(fx.Begin((), BASE)) == [IMPLICIT, HANGUP]


# --- Redirect and webhooks ----------------------------------------------------------------------


def test_redirect_uses_the_verbs_credentials_and_resolves_its_urls() -> None:
    m, out = start(
        '<Redirect redirectUrl="next" redirectMethod="GET" redirectFallbackUrl="/fallback" '
        'redirectFallbackMethod="GET" username="u" password="p" fallbackUsername="fu" '
        'fallbackPassword="fp"/><SpeakSentence>unreached</SpeakSentence>',
        creds=CALL_CREDS,
        tag="t0",
    )
    target = Target(
        "https://app.example.com/voice/next",
        "GET",
        Creds("u", "p"),
        "https://app.example.com/fallback",
        "GET",
        Creds("fu", "fp"),
    )
    assert out == [fx.FetchBxml("f1", "redirect", target, "t0", {})]
    assert m.busy


def test_redirect_without_credentials_uses_the_calls_and_the_answer_gets_a_new_base() -> None:
    m, out = start('<Redirect redirectUrl="https://other.example.org/ivr/menu"/>', creds=CALL_CREDS)
    target = Target(
        "https://other.example.org/ivr/menu", creds=CALL_CREDS, fallback_creds=CALL_CREDS
    )
    assert out == [fx.FetchBxml("f1", "redirect", target, None, {})]
    answer = doc("<PlayAudio>hold.wav</PlayAudio>")
    assert acts(m.feed(fx.Fetched("f1", answer, "https://other.example.org/ivr/menu"))) == [
        fx.PlayFile("p2", "https://other.example.org/ivr/hold.wav", None)
    ]


def test_a_verbs_tag_is_sent_with_its_webhook_and_all_later_ones_until_cleared() -> None:
    """gather.mdx, redirect.mdx …: tag "will be sent with this and all future callbacks unless
    overwritten by a future tag attribute or <Tag> verb, or cleared (tag="")"."""
    m, out = start('<Redirect redirectUrl="/r" tag="blue"/>', tag="t0")
    assert out == [fx.SetTag("blue"), fx.FetchBxml("f1", "redirect", Target(url("/r")), "blue")]
    assert m.tag == "blue"
    acts(m.feed(fx.Fetched("f1", doc('<Gather gatherUrl="/g" maxDigits="1"/>'), BASE)))
    gathered = acts(m.feed(fx.Digit("3")))[-1]
    assert gathered == fx.FetchBxml(
        "f3", "gather", Target(url("/g")), "blue", {"digits": "3", "terminatingDigit": ""}
    )
    out = acts(m.feed(fx.Fetched("f3", doc('<Redirect redirectUrl="/r" tag=""/>'), BASE)))
    assert out == [fx.SetTag(None), fx.FetchBxml("f4", "redirect", Target(url("/r")), None)]


def test_an_api_redirect_stops_what_runs_and_fetches_with_the_calls_tag() -> None:
    m, out = start('<Pause duration="60"/><SpeakSentence>unreached</SpeakSentence>', tag="t0")
    assert out == [fx.SetTimer("t1", 60.0)]
    target = Target("https://app.example.com/redirected", creds=CALL_CREDS)
    assert m.feed(fx.Redirect(target)) == [
        fx.CancelTimer("t1"),
        fx.FetchBxml("f2", "redirect", target, "t0", {}),
    ]
    assert m.feed(fx.TimerFired("t1")) == []  # cancelled: late
    assert acts(m.feed(fx.Fetched("f2", doc("<SpeakSentence>New</SpeakSentence>"), BASE))) == [
        speak("p3", "New")
    ]


@pytest.mark.parametrize("cause", ["callback-error", "invalid-bxml"])
def test_a_failed_fetch_ends_the_call_with_its_cause(cause: str) -> None:
    m, _ = start('<Redirect redirectUrl="/a"/>')
    message = "unreachable: connection refused (https://app.example.com/a)"
    assert m.feed(fx.FetchFailed("f1", cause, message)) == [fx.HangUp(cause, message)]
    assert m.done
    assert m.feed(fx.Fetched("f1", doc("<SpeakSentence>late</SpeakSentence>"), BASE)) == []


def test_answers_to_a_fetch_that_was_replaced_are_ignored() -> None:
    m, out = start('<Redirect redirectUrl="/a"/>')
    assert out == [fx.FetchBxml("f1", "redirect", Target(url("/a")), None)]
    b = Target(url("/b"))
    assert m.feed(fx.Redirect(b)) == [fx.FetchBxml("f2", "redirect", b, None)]
    assert m.feed(fx.Fetched("f1", doc("<SpeakSentence>old</SpeakSentence>"), BASE)) == []
    assert m.feed(fx.FetchFailed("f1", "callback-error", "too late")) == []
    assert not m.done
    assert acts(m.feed(fx.Fetched("f2", doc("<SpeakSentence>new</SpeakSentence>"), BASE))) == [
        speak("p3", "new")
    ]


def test_a_redirect_loop_ends_with_application_error() -> None:
    loop = doc('<Tag>looping</Tag><Redirect redirectUrl="/loop"/>')
    m = Machine(CALL, answered=True)
    out = acts(m.feed(fx.Begin(loop, BASE)))
    fetches: list[fx.FetchBxml] = []
    for _ in range(100):
        if not isinstance(out[-1], fx.FetchBxml):
            break
        fetches.append(out[-1])
        out = acts(m.feed(fx.Fetched(out[-1].token, loop, url("/loop"))))
    assert len(fetches) == MAX_EMPTY_DOCUMENTS
    [end] = [e for e in out if isinstance(e, fx.HangUp)]
    assert end.cause == "application-error"
    assert end.error_message is not None and "redirect loop" in end.error_message
    assert m.done


def test_documents_that_do_something_are_not_a_loop() -> None:
    body = doc('<SpeakSentence>Hold on</SpeakSentence><Redirect redirectUrl="/again"/>')
    m = Machine(CALL, answered=True)
    out = acts(m.feed(fx.Begin(body, BASE)))
    for _ in range(3 * MAX_EMPTY_DOCUMENTS):
        [played] = out
        assert isinstance(played, fx.Speak)
        [fetch] = acts(m.feed(fx.Played(played.playback_id)))
        assert isinstance(fetch, fx.FetchBxml)
        out = acts(m.feed(fx.Fetched(fetch.token, body, BASE)))
    assert not m.done


# --- Gather -------------------------------------------------------------------------------------

MENU = (
    '<Gather gatherUrl="/gather" repeatCount="2"><SpeakSentence>Press one</SpeakSentence>'
    "<PlayAudio>menu.wav</PlayAudio></Gather><SpeakSentence>unreached</SpeakSentence>"
)


def test_gather_plays_its_prompts_repeat_count_times_then_waits_first_digit_timeout() -> None:
    m, out = start(MENU, answered=False)
    menu = url("menu.wav")
    assert out == [
        fx.Answer(),
        fx.Collect(True),
        speak("p1", "Press one"),
        fx.PlayFile("p2", menu, None),
        speak("p3", "Press one"),
        fx.PlayFile("p4", menu, None),
    ]
    for pid in ("p1", "p2", "p3"):
        assert m.feed(fx.Played(pid)) == []
    assert m.feed(fx.Played("p4")) == [fx.SetTimer("t5", 5.0)]  # firstDigitTimeout
    assert m.feed(fx.TimerFired("t5")) == [
        fx.Collect(False),
        fx.Note("gathered", {"digits": "", "terminatingDigit": ""}),
        fx.FetchBxml(
            "f6", "gather", Target(url("/gather")), None, {"digits": "", "terminatingDigit": ""}
        ),
    ]


def test_the_first_digit_stops_the_prompts() -> None:
    m, _ = start(MENU)
    assert m.feed(fx.Digit("7")) == [
        fx.Note("dtmf", {"digit": "7"}),
        fx.StopPlayback("p1"),
        fx.StopPlayback("p2"),
        fx.StopPlayback("p3"),
        fx.StopPlayback("p4"),
        fx.SetTimer("t5", 5.0),  # interDigitTimeout
    ]
    # The prompts' interrupted ends are late: no firstDigitTimeout after them.
    for pid in ("p1", "p2", "p3", "p4"):
        assert m.feed(fx.Played(pid, interrupted=True)) == []
    assert acts(m.feed(fx.TimerFired("t5"))) == [
        fx.Collect(False),
        fx.FetchBxml(
            "f6", "gather", Target(url("/gather")), None, {"digits": "7", "terminatingDigit": ""}
        ),
    ]


def test_gather_ends_at_max_digits() -> None:
    m, out = start(
        '<Gather gatherUrl="/g" maxDigits="2" firstDigitTimeout="3" interDigitTimeout="2"/>'
        "<SpeakSentence>unreached</SpeakSentence>"
    )
    assert out == [fx.Collect(True), fx.SetTimer("t1", 3.0)]
    assert acts(m.feed(fx.Digit("4"))) == [fx.CancelTimer("t1"), fx.SetTimer("t2", 2.0)]
    assert acts(m.feed(fx.Digit("2"))) == [
        fx.CancelTimer("t2"),
        fx.Collect(False),
        fx.FetchBxml("f3", "gather", Target(url("/g")), None, {"digits": "42", "terminatingDigit": ""}),
    ]  # fmt: skip
    assert acts(m.feed(fx.Digit("9"))) == []
    assert m.feed(fx.TimerFired("t2")) == []


def test_a_terminating_digit_ends_gather_and_is_reported_apart() -> None:
    m, _ = start('<Gather gatherUrl="/g" terminatingDigits="#*"/>')
    acts(m.feed(fx.Digit("1")))
    acts(m.feed(fx.Digit("2")))
    assert m.feed(fx.Digit("*")) == [
        fx.Note("dtmf", {"digit": "*"}),
        fx.CancelTimer("t3"),
        fx.Collect(False),
        fx.Note("gathered", {"digits": "12", "terminatingDigit": "*"}),
        fx.FetchBxml(
            "f4", "gather", Target(url("/g")), None, {"digits": "12", "terminatingDigit": "*"}
        ),
    ]


def test_gather_terminating_digits_a_to_d_match_whatever_their_case() -> None:
    """BXML allows terminatingDigits="d"; the network reports the key as D."""
    m, _ = start('<Gather gatherUrl="/g" terminatingDigits="d"/>')
    [*_, fetch] = m.feed(fx.Digit("D"))
    assert fetch == fx.FetchBxml(
        "f2", "gather", Target(url("/g")), None, {"digits": "", "terminatingDigit": "D"}
    )


def test_record_terminating_digits_a_to_d_match_whatever_their_case() -> None:
    m, out = start('<Record terminatingDigits="b"/>')
    rid = rid_of(out)
    assert acts(m.feed(fx.Digit("B"))) == [
        fx.CancelTimer("t2"),
        fx.Collect(False),
        fx.Record(rid, "stop"),
    ]


def test_inter_digit_timeout_ends_gather_with_the_digits_so_far() -> None:
    m, _ = start('<Gather gatherUrl="/g" interDigitTimeout="2"/>')
    assert acts(m.feed(fx.Digit("1"))) == [fx.CancelTimer("t1"), fx.SetTimer("t2", 2.0)]
    assert acts(m.feed(fx.Digit("2"))) == [fx.CancelTimer("t2"), fx.SetTimer("t3", 2.0)]
    assert m.feed(fx.TimerFired("t2")) == []  # cancelled: late
    assert acts(m.feed(fx.TimerFired("t3"))) == [
        fx.Collect(False),
        fx.FetchBxml("f4", "gather", Target(url("/g")), None, {"digits": "12", "terminatingDigit": ""}),
    ]  # fmt: skip


def test_gather_without_gather_url_goes_on_with_the_document() -> None:
    m, out = start('<Gather maxDigits="1"/><SpeakSentence>Next</SpeakSentence>')
    assert out == [fx.Collect(True), fx.SetTimer("t1", 5.0)]
    assert acts(m.feed(fx.Digit("5"))) == [
        fx.CancelTimer("t1"),
        fx.Collect(False),
        speak("p2", "Next"),
    ]
    m, _ = start('<Gather maxDigits="1"/><SpeakSentence>Next</SpeakSentence>')
    assert acts(m.feed(fx.TimerFired("t1"))) == [fx.Collect(False), speak("p2", "Next")]


def test_gather_webhook_credentials_method_and_fallback() -> None:
    m, _ = start(
        '<Gather gatherUrl="/g" gatherMethod="GET" gatherFallbackUrl="gf" username="u" '
        'password="p" maxDigits="1"/>',
        creds=CALL_CREDS,
    )
    [*_, fetch] = m.feed(fx.Digit("0"))
    assert fetch == fx.FetchBxml(
        "f2",
        "gather",
        Target(url("/g"), "GET", Creds("u", "p"), url("gf"), "POST", CALL_CREDS),
        None,
        {"digits": "0", "terminatingDigit": ""},
    )


# --- StartGather, StopGather --------------------------------------------------------------------


def test_start_gather_reports_each_digit_except_during_a_gather_until_stop_gather() -> None:
    m, out = start(
        '<StartGather dtmfUrl="/dtmf" dtmfMethod="GET" username="u" password="p"/>'
        '<Gather maxDigits="1"/><Pause duration="10"/><StopGather/><Pause duration="10"/>'
    )
    dtmf = Target(url("/dtmf"), "GET", Creds("u", "p"))
    assert out == [fx.Collect(True), fx.Collect(True), fx.SetTimer("t1", 5.0)]
    # The Gather takes the digit (no dtmf webhook) and leaves the collection on for StartGather.
    assert acts(m.feed(fx.Digit("3"))) == [
        fx.CancelTimer("t1"),
        fx.Collect(True),
        fx.SetTimer("t2", 10.0),
    ]
    assert m.feed(fx.Digit("4")) == [
        fx.Note("dtmf", {"digit": "4"}),
        fx.Notify("dtmf", dtmf, None, {"digit": "4"}),
    ]
    assert acts(m.feed(fx.TimerFired("t2"))) == [fx.Collect(False), fx.SetTimer("t3", 10.0)]
    assert acts(m.feed(fx.Digit("6"))) == []


def test_start_gather_reports_digits_pressed_during_a_record() -> None:
    """startGather.mdx: it is paused during a <Gather> only."""
    m, out = start('<StartGather dtmfUrl="/dtmf"/><Record/>')
    rid = rid_of(out)
    dtmf = Target(url("/dtmf"))
    assert acts(m.feed(fx.Digit("5"))) == [fx.Notify("dtmf", dtmf, None, {"digit": "5"})]
    assert acts(m.feed(fx.Digit("#"))) == [
        fx.CancelTimer("t2"),
        fx.Collect(True),
        fx.Record(rid, "stop"),
        fx.Notify("dtmf", dtmf, None, {"digit": "#"}),
    ]


# --- Record ---------------------------------------------------------------------------------------


def test_record_starts_stops_on_its_terminating_digit_and_sends_record_complete() -> None:
    m, out = start(
        '<Record recordCompleteUrl="/done" recordingAvailableUrl="/avail" maxDuration="30" '
        'fileFormat="mp3" tag="rec"/><SpeakSentence>unreached</SpeakSentence>'
    )
    rid = rid_of(out)
    assert rid.startswith("r-")
    assert out == [
        fx.SetTag("rec"),
        fx.Collect(True),
        fx.Record(rid, "start"),
        fx.KeepRecording(rid, "mp3", Target(url("/avail")), "rec"),
        fx.SetTimer("t2", 30.0),  # maxDuration
    ]
    assert acts(m.feed(fx.Digit("1"))) == []
    assert acts(m.feed(fx.Digit("#"))) == [
        fx.CancelTimer("t2"),
        fx.Collect(False),
        fx.Record(rid, "stop"),
    ]
    # Stopped: waiting for the stored recording; nothing else stops it again.
    assert acts(m.feed(fx.Digit("#"))) == []
    assert m.feed(fx.TimerFired("t2")) == []
    assert m.feed(recorded("r-someone-else")) == []
    assert m.feed(recorded(rid, 4.98, "mp3")) == [
        fx.FetchBxml(
            "f3",
            "recordComplete",
            Target(url("/done")),
            "rec",
            {
                "recordingId": rid,
                "mediaUrl": MEDIA,
                "duration": "PT4.98S",
                "startTime": STARTED,
                "endTime": ENDED,
                "fileFormat": "mp3",
                "channels": 1,
            },
        )
    ]


def test_record_stops_at_max_duration_and_without_record_complete_url_goes_on() -> None:
    m, out = start('<Record maxDuration="30"/><SpeakSentence>after</SpeakSentence>', answered=False)
    rid = rid_of(out)
    assert out == [
        fx.Answer(),
        fx.Collect(True),
        fx.Record(rid, "start"),
        fx.KeepRecording(rid, "wav", None, None),
        fx.SetTimer("t2", 30.0),
    ]
    assert acts(m.feed(fx.TimerFired("t2"))) == [fx.Collect(False), fx.Record(rid, "stop")]
    assert acts(m.feed(recorded(rid))) == [speak("p3", "after")]


def test_a_recording_the_carrier_ended_by_itself_releases_its_timer_and_the_keypad() -> None:
    m, out = start('<Record maxDuration="30"/><SpeakSentence>after</SpeakSentence>')
    rid = rid_of(out)
    assert acts(m.feed(recorded(rid))) == [
        fx.CancelTimer("t2"),
        fx.Collect(False),
        speak("p3", "after"),
    ]
    assert m.feed(fx.TimerFired("t2")) == []


def test_start_pause_resume_and_stop_recording() -> None:
    m, out = start(
        '<StartRecording recordingAvailableUrl="/avail" fileFormat="mp3"/><StartRecording/>'
        "<PauseRecording/><ResumeRecording/><StopRecording/><PauseRecording/><StopRecording/>"
        '<Pause duration="1"/>',
        answered=False,
    )
    rid = rid_of(out)
    assert out == [
        fx.Answer(),
        fx.Record(rid, "start"),
        fx.KeepRecording(rid, "mp3", Target(url("/avail")), None),
        fx.Record(rid, "pause"),
        fx.Record(rid, "resume"),
        fx.Record(rid, "stop"),
        fx.SetTimer("t2", 1.0),
    ]
    assert m.call_recording is None


# --- a new document, a redirect: what runs is cancelled ----------------------------------------


def test_a_new_document_stops_the_playback_and_its_late_end_is_ignored() -> None:
    m, _ = start("<SpeakSentence>Long</SpeakSentence><SpeakSentence>unreached</SpeakSentence>")
    assert acts(m.feed(fx.Begin(doc("<SpeakSentence>New</SpeakSentence>"), BASE))) == [
        fx.StopPlayback("p1"),
        speak("p2", "New"),
    ]
    assert m.feed(fx.Played("p1", interrupted=True)) == []
    assert acts(m.feed(fx.Played("p2"))) == [HANGUP]


def test_a_new_document_cancels_a_gather() -> None:
    m, _ = start(
        '<Gather gatherUrl="/g"><SpeakSentence>a</SpeakSentence><SpeakSentence>b</SpeakSentence>'
        "</Gather>"
    )
    assert acts(m.feed(fx.Begin(doc('<Pause duration="1"/>'), BASE))) == [
        fx.StopPlayback("p1"),
        fx.StopPlayback("p2"),
        fx.Collect(False),
        fx.SetTimer("t3", 1.0),
    ]
    assert acts(m.feed(fx.Digit("1"))) == []
    assert m.feed(fx.Played("p1", interrupted=True)) == []
    assert m.feed(fx.Played("p2", interrupted=True)) == []


def test_a_redirect_cancels_a_record_and_its_late_recording_is_ignored() -> None:
    m, out = start('<Record recordCompleteUrl="/done"/>')
    rid = rid_of(out)
    target = Target(url("/moved"))
    assert m.feed(fx.Redirect(target)) == [
        fx.CancelTimer("t2"),
        fx.Collect(False),
        fx.Record(rid, "stop"),
        fx.FetchBxml("f3", "redirect", target, None, {}),
    ]
    assert m.feed(recorded(rid)) == []  # no recordComplete for a Record cut short
    assert m.feed(fx.TimerFired("t2")) == []
    assert acts(m.feed(fx.Fetched("f3", doc("<SpeakSentence>Hi</SpeakSentence>"), BASE))) == [
        speak("p4", "Hi")
    ]


def test_a_new_document_runs_at_once_even_while_a_stopped_record_is_being_stored() -> None:
    m, out = start('<Record recordCompleteUrl="/done"/>')
    rid = rid_of(out)
    acts(m.feed(fx.Digit("#")))  # stopped; its Recorded is on its way
    assert acts(m.feed(fx.Begin(doc("<SpeakSentence>Next</SpeakSentence>"), BASE))) == [
        speak("p3", "Next")
    ]
    assert m.feed(recorded(rid)) == []  # the old document's recordComplete is not fetched
    assert acts(m.feed(fx.Played("p3"))) == [HANGUP]


# --- verbs this version does not run ------------------------------------------------------------


@pytest.mark.parametrize(
    ("xml", "verb"),
    [
        ("<Transfer><PhoneNumber>+19195551234</PhoneNumber></Transfer>", "Transfer"),
        ("<Conference>support</Conference>", "Conference"),
        ("<Bridge>c-abcdef</Bridge>", "Bridge"),
        ('<Forward to="+19195551234"/>', "Forward"),
        ('<StartStream destination="wss://stream.example.com/s"/>', "StartStream"),
        ('<StopStream name="s"/>', "StopStream"),
        ("<StartTranscription/>", "StartTranscription"),
        ("<StopTranscription/>", "StopTranscription"),
    ],
)
def test_multi_party_and_stream_verbs_end_the_call_with_application_error(
    xml: str, verb: str
) -> None:
    m, out = start(
        f"<SpeakSentence>Connecting</SpeakSentence>{xml}<SpeakSentence>x</SpeakSentence>"
    )
    assert out == [speak("p1", "Connecting")]
    assert m.feed(fx.Played("p1")) == [
        fx.Note("verb", {"verb": verb}),
        fx.HangUp("application-error", f"{verb} is not supported by this OpenBand version"),
    ]
    assert m.done


# --- the end --------------------------------------------------------------------------------------


def test_ended_makes_the_machine_inert() -> None:
    m, out = start(
        '<StartGather dtmfUrl="/d"/><Gather gatherUrl="/g"><SpeakSentence>a</SpeakSentence>'
        "</Gather>"
    )
    assert out == [fx.Collect(True), fx.Collect(True), speak("p1", "a")]
    assert m.feed(fx.Ended()) == []
    assert m.done
    for late in (
        fx.Played("p1"),
        fx.Digit("1"),
        fx.TimerFired("t2"),
        fx.Begin(doc("<SpeakSentence>b</SpeakSentence>"), BASE),
        fx.Redirect(Target(url("/r"))),
        fx.Fetched("f1", doc("<Hangup/>"), BASE),
    ):
        assert m.feed(late) == []
