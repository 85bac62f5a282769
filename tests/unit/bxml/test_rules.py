"""The rules: defaults, each range boundary in and out, value syntax, nesting, unknown verbs and
attributes, text, and construction in code held to the same rules as parsing."""

from __future__ import annotations

import dataclasses

import pytest

from openband import bxml


def one(xml: str, *, strict: bool = False) -> object:
    """The single verb of `<Response>xml</Response>`."""
    (verb,) = bxml.parse_document(f"<Response>{xml}</Response>", strict=strict).verbs
    return verb


def refused(xml: str, *, strict: bool = False) -> str:
    with pytest.raises(bxml.BxmlError) as info:
        bxml.parse_document(f"<Response>{xml}</Response>", strict=strict)
    return str(info.value)


# --- defaults (api-docs site/docs/voice/bxml/*.mdx) -------------------------------------------


def test_defaults_are_bandwidths() -> None:
    gather = one("<Gather/>")
    assert gather == bxml.Gather()
    assert (gather.max_digits, gather.inter_digit_timeout, gather.first_digit_timeout) == (50, 5, 5)
    assert (gather.repeat_count, gather.terminating_digits, gather.gather_url) == (1, "", None)
    assert gather.gather_method == gather.gather_fallback_method == "POST"
    assert (gather.input, gather.profanity_filter, gather.speech_timeout) == ("dtmf", True, 5)
    assert one("<Pause/>") == bxml.Pause(duration=1)
    ring = one("<Ring/>")
    assert (ring.duration, ring.answer_call) == (5, True)
    dtmf = one("<SendDtmf>1</SendDtmf>")
    assert (dtmf.tone_duration, dtmf.tone_interval) == (200, 400)
    transfer = one("<Transfer><PhoneNumber>+15555550100</PhoneNumber></Transfer>")
    assert (transfer.call_timeout, transfer.privacy, transfer.tag) == (30, False, None)
    assert one('<Forward to="+15555550100"/>').call_timeout == 30
    record = one("<Record/>")
    assert (record.max_duration, record.silence_timeout) == (60, 0)
    assert (record.terminating_digits, record.file_format, record.transcribe) == ("#", "wav", False)
    start = one("<StartRecording/>")
    assert (start.file_format, start.multi_channel, start.transcribe) == ("wav", False, False)
    speak = one("<SpeakSentence>Hi</SpeakSentence>")
    assert (speak.voice, speak.gender, speak.locale) == (None, "female", "en_US")
    conference = one("<Conference>c</Conference>")
    assert (conference.mute, conference.hold, conference.callback_timeout) == (False, False, None)
    stream = one('<StartStream destination="wss://x"/>')
    assert (stream.tracks, stream.mode, stream.stream_event_method) == (
        "inbound",
        "unidirectional",
        "POST",
    )
    assert one('<StopStream name="s"/>').wait is False
    transcription = one("<StartTranscription/>")
    assert (transcription.tracks, transcription.stabilized) == ("inbound", True)
    assert one("<StopTranscription/>").name is None
    assert one("<Tag/>") == bxml.Tag("")


def test_defaults_are_not_written() -> None:
    assert bxml.Gather().to_xml() == "<Gather/>"
    assert bxml.Record(max_duration=60, file_format="wav").to_xml() == "<Record/>"
    assert bxml.Ring(answer_call=True, duration=5.0).to_xml() == "<Ring/>"
    # tag="" is not the default (None): it clears the tag, so it is written
    assert (
        bxml.Redirect(redirect_url="/r", tag="").to_xml() == '<Redirect redirectUrl="/r" tag=""/>'
    )


# --- ranges: each boundary in and out ----------------------------------------------------------

T = "<PhoneNumber>+15555550100</PhoneNumber>"
# fmt: off
RANGES = [
    # (element with {a} for the attribute, attribute, in-range values, out-of-range values, rule)
    ("<Gather {a}/>", "maxDigits", ["1", "50"], ["0", "51"], "must be between 1 and 50"),
    ("<Gather {a}/>", "interDigitTimeout", ["1", "60"], ["0.9", "60.5"], "must be between 1 and 60"),
    ("<Gather {a}/>", "firstDigitTimeout", ["0", "60"], ["-1", "60.01"], "must be between 0 and 60"),
    ("<Gather {a}/>", "repeatCount", ["1", "20"], ["0", "-3"], "must be at least 1"),
    ("<Pause {a}/>", "duration", ["0.1", "86400"], ["0.09", "86401"], "must be between 0.1 and 86400"),
    ("<Ring {a}/>", "duration", ["0.1", "86400"], ["0", "86400.5"], "must be between 0.1 and 86400"),
    ("<SendDtmf {a}>1</SendDtmf>", "toneDuration", ["50", "5000"], ["49", "5001"], "must be between 50 and 5000"),
    ("<SendDtmf {a}>1</SendDtmf>", "toneInterval", ["50", "5000"], ["49.9", "5000.1"], "must be between 50 and 5000"),
    (f"<Transfer {{a}}>{T}</Transfer>", "callTimeout", ["1", "300"], ["0.5", "301"], "must be between 1 and 300"),
    ('<Forward to="+15555550100" {a}/>', "callTimeout", ["1", "300"], ["0", "300.5"], "must be between 1 and 300"),
    ("<Record {a}/>", "maxDuration", ["1", "10800"], ["0", "10801"], "must be between 1 and 10800"),
    ("<Record {a}/>", "silenceTimeout", ["0", "10800"], ["-0.5", "10801"], "must be between 0 and 10800"),
    ("<Conference {a}>c</Conference>", "callbackTimeout", ["1", "25"], ["0.99", "25.5"], "must be between 1 and 25"),
]
# fmt: on
RANGE_CASES = [
    pytest.param(template, attribute, value, ok, rule, id=f"{template[1:8]}-{attribute}={value}")
    for template, attribute, good, bad, rule in RANGES
    for value, ok in [*((g, True) for g in good), *((b, False) for b in bad)]
]


@pytest.mark.parametrize(("template", "attribute", "value", "ok", "rule"), RANGE_CASES)
def test_range_boundaries(template: str, attribute: str, value: str, ok: bool, rule: str) -> None:
    xml = template.format(a=f'{attribute}="{value}"')
    if ok:
        one(xml)
    else:
        tag = template[1 : template.index(" ")]
        assert refused(xml) == f"{tag}: {attribute} {rule}"


def test_the_error_names_verb_and_attribute() -> None:
    with pytest.raises(bxml.BxmlError) as info:
        bxml.parse_document('<Response><Gather maxDigits="51"/></Response>')
    assert str(info.value) == "Gather: maxDigits must be between 1 and 50"
    assert (info.value.verb, info.value.attribute) == ("Gather", "maxDigits")
    assert isinstance(info.value, ValueError)


def test_gather_repeat_count_times_prompts_at_most_20() -> None:
    prompt = "<PlayAudio>a.wav</PlayAudio>"
    assert one(f'<Gather repeatCount="4">{prompt * 5}</Gather>').repeat_count == 4
    assert len(one(f"<Gather>{prompt * 20}</Gather>").prompts) == 20
    assert refused(f'<Gather repeatCount="3">{prompt * 7}</Gather>') == (
        "Gather: repeatCount (3) times the number of nested verbs (7) must not be greater than 20"
    )
    assert "must not be greater than 20" in refused(f"<Gather>{prompt * 21}</Gather>")


def test_transfer_takes_1_to_8_targets() -> None:
    assert len(one(f"<Transfer>{T * 8}</Transfer>").targets) == 8
    assert refused(f"<Transfer>{T * 9}</Transfer>") == (
        "Transfer: must contain between 1 and 8 PhoneNumber or SipUri elements (found 9)"
    )
    assert "(found 0)" in refused("<Transfer/>")


def test_tag_is_at_most_256_characters() -> None:
    assert one(f'<Redirect redirectUrl="/r" tag="{"x" * 256}"/>').tag == "x" * 256
    assert refused(f'<Redirect redirectUrl="/r" tag="{"x" * 257}"/>') == (
        "Redirect: tag must be at most 256 characters"
    )
    assert one(f"<Tag>{'x' * 256}</Tag>").value == "x" * 256
    assert refused(f"<Tag>{'x' * 257}</Tag>") == "Tag: the tag must be at most 256 characters"


def test_conference_names() -> None:
    assert one(f"<Conference>{'a' * 100}</Conference>").name == "a" * 100
    rule = (
        "Conference: the conference name must be at most 100 characters of letters, digits, "
        "'-', '_' and '.'"
    )
    assert refused(f"<Conference>{'a' * 101}</Conference>") == rule
    assert refused("<Conference>my conf</Conference>") == rule
    assert refused("<Conference>caf\u00e9</Conference>") == rule
    assert refused("<Conference/>") == "Conference: the conference name must not be blank"


def test_send_dtmf_digits() -> None:
    assert one(f"<SendDtmf>{'1' * 50}</SendDtmf>").digits == "1" * 50
    assert refused(f"<SendDtmf>{'1' * 51}</SendDtmf>") == (
        "SendDtmf: digits must be at most 50 characters"
    )
    assert refused("<SendDtmf>12x</SendDtmf>") == (
        "SendDtmf: digits may contain only 0-9, *, #, A-D and the pauses w, W and ','"
    )
    assert refused("<SendDtmf> </SendDtmf>") == "SendDtmf: digits must not be blank"


def test_terminating_digits() -> None:
    assert one('<Gather terminatingDigits="#*0A"/>').terminating_digits == "#*0A"
    assert refused('<Gather terminatingDigits="#x"/>') == (
        "Gather: terminatingDigits may contain only 0-9, *, # and A-D"
    )
    assert one('<Record terminatingDigits=""/>').terminating_digits == ""  # disables it


def test_params_limits() -> None:
    param = '<StreamParam name="n" value="v"/>'
    assert (
        len(one(f'<StartStream destination="wss://x">{param * 12}</StartStream>').stream_params)
        == 12
    )
    assert refused(f'<StartStream destination="wss://x">{param * 13}</StartStream>') == (
        "StartStream: may contain at most 12 StreamParam elements"
    )
    custom = '<CustomParam name="n" value="v"/>'
    assert "at most 12 CustomParam" in refused(
        f"<StartTranscription>{custom * 13}</StartTranscription>"
    )
    long_ok = f'<StreamParam name="{"n" * 256}" value="{"v" * 2048}"/>'
    one(f'<StartStream destination="wss://x">{long_ok}</StartStream>')
    assert refused(
        f'<StartStream destination="wss://x"><StreamParam name="{"n" * 257}" value="v"/></StartStream>'
    ) == ("StreamParam: name must be at most 256 characters")
    assert refused(
        f'<StartStream destination="wss://x"><StreamParam name="n" value="{"v" * 2049}"/></StartStream>'
    ) == ("StreamParam: value must be at most 2048 characters")


def test_addresses() -> None:
    assert refused("<Transfer><PhoneNumber>5555550100</PhoneNumber></Transfer>") == (
        "PhoneNumber: '5555550100' is not an E.164 number (like +15555555555)"
    )
    assert refused("<Transfer><SipUri>agent@pbx</SipUri></Transfer>") == (
        "SipUri: 'agent@pbx' is not a SIP URI (like sip:user@server.com)"
    )
    assert (
        one("<Transfer><SipUri>SIPS:a@b.example</SipUri></Transfer>").targets[0].uri
        == "SIPS:a@b.example"
    )
    assert (
        refused('<Forward to="5555550100"/>') == "Forward: to must be an E.164 number or a SIP URI"
    )
    assert one('<Forward to=" +15555550100 " from="Private"/>').to == "+15555550100"
    assert refused('<Forward to="+15555550100" from="Bob"/>') == (
        "Forward: from must be an E.164 number or one of Restricted, Anonymous, Private, Unavailable"
    )
    assert refused(f'<Transfer transferCallerId="12">{T}</Transfer>').startswith(
        "Transfer: transferCallerId must be an E.164 number"
    )
    assert "without control characters" in refused(
        f'<Transfer transferCallerDisplayName="a&#10;b">{T}</Transfer>'
    )
    assert refused(
        f'<Transfer><PhoneNumber uui="{"u" * 257}">+15555550100</PhoneNumber></Transfer>'
    ) == ("PhoneNumber: uui must be at most 256 characters")


def test_required_attributes() -> None:
    assert refused("<Redirect/>") == "Redirect: redirectUrl is required"
    assert refused('<Redirect redirectUrl="  "/>') == "Redirect: redirectUrl is required"
    assert refused("<StartGather/>") == "StartGather: dtmfUrl is required"
    assert refused("<StartStream/>") == "StartStream: destination is required"
    assert refused("<StopStream/>") == "StopStream: name is required"
    assert refused("<Forward/>") == "Forward: to is required"
    assert refused('<StartStream destination="wss://x"><StreamParam value="v"/></StartStream>') == (
        "StreamParam: name is required"
    )
    assert refused("<PlayAudio> </PlayAudio>") == "PlayAudio: the audio URL must not be blank"
    assert refused("<Bridge/>") == "Bridge: the target call id must not be blank"
    assert (
        refused("<Connect><Endpoint/></Connect>") == "Endpoint: the endpoint id must not be blank"
    )
    assert refused("<Connect/>") == "Connect: must contain at least one Endpoint"


# --- value syntax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("false", False),
        ("False", False),
        (" false ", False),
    ],
)
def test_booleans_ignore_case(raw: str, value: bool) -> None:
    assert one(f'<Ring answerCall="{raw}"/>').answer_call is value


@pytest.mark.parametrize("raw", ["yes", "1", "t"])
def test_booleans_are_true_or_false(raw: str) -> None:
    assert (
        refused(f'<Ring answerCall="{raw}"/>')
        == f"Ring: answerCall must be true or false, not '{raw}'"
    )


def test_methods() -> None:
    assert one('<Redirect redirectUrl="/r" redirectMethod="get"/>').redirect_method == "GET"
    assert refused('<Redirect redirectUrl="/r" redirectMethod="PUT"/>') == (
        "Redirect: redirectMethod must be GET or POST, not 'PUT'"
    )


@pytest.mark.parametrize("raw", ["abc", "5s", "nan", "inf", "1e999", "1_000", "0x10"])
def test_numbers_are_decimals(raw: str) -> None:
    assert refused(f'<Pause duration="{raw}"/>') == f"Pause: duration must be a number, not '{raw}'"


def test_whole_numbers() -> None:
    assert one('<Gather maxDigits="5.0"/>').max_digits == 5
    assert one('<Gather maxDigits=" +7 "/>').max_digits == 7
    assert (
        refused('<Gather maxDigits="4.5"/>')
        == "Gather: maxDigits must be a whole number, not '4.5'"
    )
    assert one('<Pause duration="1e1"/>').duration == 10


def test_blank_attributes_count_as_absent() -> None:
    assert one('<Gather maxDigits="" gatherUrl=" " gatherMethod=""/>') == bxml.Gather()
    assert one('<SpeakSentence voice="">Hi</SpeakSentence>').voice is None


def test_enumerations() -> None:
    speak = one('<SpeakSentence voice="Julie" gender="MALE" locale="en-us">Hi</SpeakSentence>')
    assert (speak.voice, speak.gender, speak.locale) == ("julie", "male", "en_US")
    assert one('<SpeakSentence locale="cmn_cn">Hi</SpeakSentence>').locale == "cmn-CN"
    assert refused('<SpeakSentence voice="hal">Hi</SpeakSentence>').startswith(
        "SpeakSentence: voice must be one of julie, kate, susan,"
    )
    assert refused('<SpeakSentence gender="robot">Hi</SpeakSentence>') == (
        "SpeakSentence: gender must be one of male, female; not 'robot'"
    )
    assert refused('<SpeakSentence locale="xx_YY">Hi</SpeakSentence>').startswith(
        "SpeakSentence: locale must be one of en_US, en_UK, de,"
    )
    assert (
        refused('<Record fileFormat="ogg"/>')
        == "Record: fileFormat must be one of wav, mp3; not 'ogg'"
    )
    assert one('<StartStream destination="wss://x" tracks="BOTH"/>').tracks == "both"


def test_every_listed_voice_is_accepted() -> None:
    assert len(bxml.VOICES) == 29
    for voice in bxml.VOICES:
        assert one(f'<SpeakSentence voice="{voice}">Hi</SpeakSentence>').voice == voice


# --- nesting and unknown verbs -----------------------------------------------------------------

# fmt: off
NESTING = [
    ("<Foo/>", "Unknown verb 'Foo'"),
    ("<hangup/>", "Unknown verb 'hangup' (did you mean 'Hangup'?)"),
    ("<SendMessage/>", "Unknown verb 'SendMessage' (a BXML v1 verb, not part of BXML v2)"),
    ("<Gather><Foo/></Gather>", "Unknown verb 'Foo'"),
    ("<Gather><Hangup/></Gather>", "Gather may contain only SpeakSentence and PlayAudio, not Hangup"),
    ("<Gather><Gather/></Gather>", "Gather may contain only SpeakSentence and PlayAudio, not Gather"),
    ("<PhoneNumber>+15555550100</PhoneNumber>", "PhoneNumber may only appear inside Transfer"),
    ("<SipUri>sip:a@b</SipUri>", "SipUri may only appear inside Transfer or Refer"),
    ("<Gather><PhoneNumber>+15555550100</PhoneNumber></Gather>", "PhoneNumber may only appear inside Transfer"),
    ('<StreamParam name="a" value="b"/>', "StreamParam may only appear inside StartStream"),
    ('<StartTranscription><StreamParam name="a" value="b"/></StartTranscription>', "StreamParam may only appear inside StartStream"),
    ('<CustomParam name="a" value="b"/>', "CustomParam may only appear inside StartTranscription"),
    ("<Endpoint>e</Endpoint>", "Endpoint may only appear inside Connect"),
    ("<Transfer><Pause/></Transfer>", "Transfer may contain only PhoneNumber and SipUri, not Pause"),
    ('<Connect><PlayAudio>a</PlayAudio></Connect>', "Connect may contain only Endpoint, not PlayAudio"),
    ("<Hangup><Pause/></Hangup>", "Hangup may not contain other elements (found Pause)"),
    ("<Transfer><PhoneNumber><b/>+1</PhoneNumber></Transfer>", "PhoneNumber may not contain other elements (found b)"),
    ("<Response/>", "Response may only be the root element"),
    ("<Bxml/>", "Bxml may only be the root element"),
    ("<Refer/>", "Refer must contain exactly one SipUri (found 0)"),
    ("<Refer><SipUri>sip:a@b</SipUri><SipUri>sip:c@d</SipUri></Refer>", "Refer must contain exactly one SipUri (found 2)"),
    ("<Refer><PhoneNumber>+15555550100</PhoneNumber></Refer>", "PhoneNumber may only appear inside Transfer"),
    ("<SpeakSentence>Hi <Hangup/></SpeakSentence>", "SpeakSentence may not contain Hangup"),
]
# fmt: on


@pytest.mark.parametrize(("xml", "message"), NESTING, ids=[m for _, m in NESTING])
def test_nesting(xml: str, message: str) -> None:
    assert refused(xml) == message


def test_stray_text_is_refused() -> None:
    assert refused("<Hangup>now</Hangup>") == "Hangup may not contain text (found 'now')"
    assert refused("Hello<Hangup/>") == "Response may not contain text (found 'Hello')"
    assert refused("<Hangup/>bye") == "Response may not contain text (found 'bye')"
    assert refused("<Gather>x<PlayAudio>a</PlayAudio></Gather>") == (
        "Gather may not contain text (found 'x')"
    )


def test_whitespace_only_text_is_empty() -> None:
    assert one("<Hangup>\n   </Hangup>") == bxml.Hangup()
    assert one("<Tag>  \n </Tag>") == bxml.Tag("")
    assert one("<Tag>  vip  </Tag>").value == "vip"  # tag.mdx: trimmed
    assert (
        one("<PlayAudio>\n  https://a.example/x.wav\n</PlayAudio>").url == "https://a.example/x.wav"
    )
    assert one("<SpeakSentence>\n Hello from Bandwidth.\n</SpeakSentence>").sentence == (
        "Hello from Bandwidth."
    )


@pytest.mark.parametrize(
    "xml", ["<Hangup/>", "<Hangup />", "<Hangup></Hangup>", "<Hangup>\n</Hangup>"]
)
def test_hangup_spellings(xml: str) -> None:
    assert one(xml) == bxml.Hangup()


# --- unknown attributes and the SDKs' spellings --------------------------------------------------


def test_unknown_attributes_are_ignored_unless_strict() -> None:
    assert one('<Pause duration="2" color="blue"/>') == bxml.Pause(duration=2)
    assert refused('<Pause duration="2" color="blue"/>', strict=True) == (
        "Pause: unknown attribute 'color'"
    )
    assert one('<Pause duration="2"/>', strict=True) == bxml.Pause(duration=2)


def test_sdk_misspellings_are_aliases() -> None:
    bridge = one('<Bridge bridgeTargetCompleteFallback_url="/f">c-1</Bridge>', strict=True)
    assert bridge.bridge_target_complete_fallback_url == "/f"
    record = one(
        '<Record recordCompleteFallback_url="/f" recordCompleteFallback_method="GET"/>', strict=True
    )
    assert (record.record_complete_fallback_url, record.record_complete_fallback_method) == (
        "/f",
        "GET",
    )
    assert one('<Conference calbackTimeout="5">c</Conference>').callback_timeout == 5
    # the proper spelling wins, whichever comes first
    for xml in (
        '<Bridge bridgeTargetCompleteFallbackUrl="/a" bridgeTargetCompleteFallback_url="/b">c</Bridge>',
        '<Bridge bridgeTargetCompleteFallback_url="/b" bridgeTargetCompleteFallbackUrl="/a">c</Bridge>',
    ):
        assert one(xml).bridge_target_complete_fallback_url == "/a"
    # and it is what is written back
    assert 'bridgeTargetCompleteFallbackUrl="/f"' in bridge.to_xml()


def test_conference_name_as_attribute_or_text() -> None:
    assert one('<Conference name="room-1"/>', strict=True) == bxml.Conference("room-1")
    assert one("<Conference>room-1</Conference>") == bxml.Conference("room-1")
    assert one('<Conference name="room-1">room-1</Conference>') == bxml.Conference("room-1")
    assert refused('<Conference name="a">b</Conference>') == (
        "Conference: name given twice, as text ('b') and as an attribute ('a')"
    )
    assert bxml.Conference("room-1").to_xml() == "<Conference>room-1</Conference>"


# --- built in code: the same rules --------------------------------------------------------------


def test_construction_is_validated() -> None:
    with pytest.raises(bxml.BxmlError, match=r"^Pause: duration must be between 0\.1 and 86400$"):
        bxml.Pause(duration=0)
    with pytest.raises(bxml.BxmlError, match=r"^Pause: duration must be a number$"):
        bxml.Pause(duration=True)  # type: ignore[arg-type]
    with pytest.raises(bxml.BxmlError, match=r"^Gather: maxDigits must be a whole number$"):
        bxml.Gather(max_digits=2.5)  # type: ignore[arg-type]
    with pytest.raises(bxml.BxmlError, match=r"^Ring: answerCall must be true or false$"):
        bxml.Ring(answer_call="false")  # type: ignore[arg-type]
    with pytest.raises(bxml.BxmlError, match=r"^Redirect: redirectMethod must be GET or POST$"):
        bxml.Redirect(redirect_url="/r", redirect_method="get")  # type: ignore[arg-type]
    with pytest.raises(bxml.BxmlError, match=r"^Redirect: redirectUrl is required$"):
        bxml.Redirect(redirect_url="")
    with pytest.raises(
        bxml.BxmlError, match=r"^Gather may contain only SpeakSentence and PlayAudio, not Hangup$"
    ):
        bxml.Gather(prompts=(bxml.Hangup(),))  # type: ignore[arg-type]
    with pytest.raises(
        bxml.BxmlError, match=r"^Transfer may contain only PhoneNumber and SipUri, not str$"
    ):
        bxml.Transfer(targets=("+15555550100",))  # type: ignore[arg-type]
    with pytest.raises(bxml.BxmlError, match=r"^PhoneNumber may only appear inside Transfer$"):
        bxml.Document(verbs=(bxml.PhoneNumber("+15555550100"),))  # type: ignore[arg-type]
    with pytest.raises(bxml.BxmlError, match=r"^The root element must be"):
        bxml.Document(root="Foo")  # type: ignore[arg-type]


def test_construction_normalises_like_parsing() -> None:
    gather = bxml.Gather(prompts=[bxml.PlayAudio(" a.wav ")])  # type: ignore[arg-type]
    assert gather.prompts == (bxml.PlayAudio("a.wav"),)
    assert bxml.Document(verbs=[bxml.Hangup()]).verbs == (bxml.Hangup(),)  # type: ignore[arg-type]
    assert bxml.Tag(" x ") == bxml.Tag("x")


def test_verbs_are_frozen_and_hashable() -> None:
    pause = bxml.Pause(duration=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pause.duration = 3  # type: ignore[misc]
    assert len({pause, bxml.Pause(duration=2.0), bxml.Hangup()}) == 2


def test_verbs_match_by_keyword() -> None:
    match one('<Pause duration="2.5"/>'):
        case bxml.Pause(duration=seconds):
            assert seconds == 2.5
        case _:
            pytest.fail("not a Pause")
    assert isinstance(bxml.Hangup(), bxml.Verb)  # type: ignore[arg-type]
    assert not isinstance(bxml.PhoneNumber("+15555550100"), bxml.Verb)  # type: ignore[arg-type]


def test_parse_checks_the_tag() -> None:
    from lxml import etree

    with pytest.raises(bxml.BxmlError, match=r"^Expected a Pause element, not Ring$"):
        bxml.Pause.parse(etree.fromstring("<Ring/>"))


def test_conference_verbs() -> None:
    ok = bxml.parse_document(
        "<Bxml><PlayAudio>a.wav</PlayAudio><SpeakSentence>Hi</SpeakSentence><StartRecording/>"
        "<PauseRecording/><ResumeRecording/><StopRecording/></Bxml>"
    )
    ok.check_conference()
    with pytest.raises(bxml.BxmlError) as info:
        bxml.parse_document("<Bxml><Hangup/></Bxml>").check_conference()
    assert str(info.value) == (
        "Conference BXML may contain only PlayAudio, SpeakSentence, StartRecording, "
        "StopRecording, PauseRecording and ResumeRecording, not Hangup"
    )
    assert one("<Conference>c</Conference>").coached_call_ids == ()
    assert one('<Conference callIdsToCoach="c-1, c-2,">c</Conference>').coached_call_ids == (
        "c-1",
        "c-2",
    )
