"""Every BXML element with every attribute it has: parsed into the expected typed object, and
rendered back to the same XML. Attribute values differ from their defaults so each one is
written; the tables are checked to cover every registered element and every attribute."""

from __future__ import annotations

import pytest
from lxml import etree

from openband import bxml
from openband.bxml._wire import REGISTRY, spec_of

URL = "https://app.example.com/cb?a=1&amp;b=2"  # as written in XML
URL_VALUE = "https://app.example.com/cb?a=1&b=2"  # as parsed
WH = 'username="u" password="p" fallbackUsername="fu" fallbackPassword="fp" tag="t-1"'
WH_FIELDS = {
    "username": "u",
    "password": "p",
    "fallback_username": "fu",
    "fallback_password": "fp",
    "tag": "t-1",
}
TARGET_ATTRS = (
    f'transferAnswerUrl="/answer" transferAnswerMethod="GET" transferAnswerFallbackUrl="{URL}" '
    'transferAnswerFallbackMethod="GET" transferDisconnectUrl="/disc" '
    f'transferDisconnectMethod="GET" {WH} uui="eyJhbGciOiJIUzI1NiJ9;encoding=jwt"'
)
TARGET_FIELDS = {
    "transfer_answer_url": "/answer",
    "transfer_answer_method": "GET",
    "transfer_answer_fallback_url": URL_VALUE,
    "transfer_answer_fallback_method": "GET",
    "transfer_disconnect_url": "/disc",
    "transfer_disconnect_method": "GET",
    **WH_FIELDS,
    "uui": "eyJhbGciOiJIUzI1NiJ9;encoding=jwt",
}
SIP = bxml.SipUri("sip:agent@pbx.example.com", **TARGET_FIELDS)
SIP_XML = f"<SipUri {TARGET_ATTRS}>sip:agent@pbx.example.com</SipUri>"

FULL: list[tuple[str, object]] = [
    (
        '<SpeakSentence voice="paul" gender="male" locale="en_UK">Hello '
        '<say-as interpret-as="telephone">2025551212</say-as> &amp; bye</SpeakSentence>',
        bxml.SpeakSentence(
            'Hello <say-as interpret-as="telephone">2025551212</say-as> &amp; bye',
            voice="paul",
            gender="male",
            locale="en_UK",
        ),
    ),
    (
        '<PlayAudio username="u" password="p">https://audio.example.com/hello.wav</PlayAudio>',
        bxml.PlayAudio("https://audio.example.com/hello.wav", username="u", password="p"),
    ),
    (
        f'<Gather gatherUrl="{URL}" gatherMethod="GET" gatherFallbackUrl="/fallback" '
        f'gatherFallbackMethod="GET" {WH} terminatingDigits="#*" maxDigits="10" '
        'interDigitTimeout="2.5" firstDigitTimeout="0" repeatCount="2" input="dtmf_speech" '
        'hints="sales,support" language="en-US" partialResultCallback="/partial" '
        'partialResultCallbackMethod="GET" profanityFilter="false" speechModel="default" '
        'speechTimeout="3">'
        "<SpeakSentence>Press one</SpeakSentence><PlayAudio>/beep.wav</PlayAudio></Gather>",
        bxml.Gather(
            gather_url=URL_VALUE,
            gather_method="GET",
            gather_fallback_url="/fallback",
            gather_fallback_method="GET",
            **WH_FIELDS,
            terminating_digits="#*",
            max_digits=10,
            inter_digit_timeout=2.5,
            first_digit_timeout=0,
            repeat_count=2,
            input="dtmf_speech",
            hints="sales,support",
            language="en-US",
            partial_result_callback="/partial",
            partial_result_callback_method="GET",
            profanity_filter=False,
            speech_model="default",
            speech_timeout=3,
            prompts=(bxml.SpeakSentence("Press one"), bxml.PlayAudio("/beep.wav")),
        ),
    ),
    (
        '<StartGather dtmfUrl="/dtmf" dtmfMethod="GET" username="u" password="p" tag="g"/>',
        bxml.StartGather(dtmf_url="/dtmf", dtmf_method="GET", username="u", password="p", tag="g"),
    ),
    ("<StopGather/>", bxml.StopGather()),
    (
        '<SendDtmf toneDuration="100" toneInterval="300.5">12w34W#*aD,</SendDtmf>',
        bxml.SendDtmf("12w34W#*aD,", tone_duration=100, tone_interval=300.5),
    ),
    ("<Hangup/>", bxml.Hangup()),
    (
        f'<Redirect redirectUrl="/next" redirectMethod="GET" redirectFallbackUrl="{URL}" '
        f'redirectFallbackMethod="GET" {WH}/>',
        bxml.Redirect(
            redirect_url="/next",
            redirect_method="GET",
            redirect_fallback_url=URL_VALUE,
            redirect_fallback_method="GET",
            **WH_FIELDS,
        ),
    ),
    ('<Pause duration="2.5"/>', bxml.Pause(duration=2.5)),
    ('<Ring duration="0.1" answerCall="false"/>', bxml.Ring(duration=0.1, answer_call=False)),
    ("<Tag>customer-42</Tag>", bxml.Tag("customer-42")),
    (
        f"<PhoneNumber {TARGET_ATTRS}>+15555550100</PhoneNumber>",
        bxml.PhoneNumber("+15555550100", **TARGET_FIELDS),
    ),
    (SIP_XML, SIP),
    (
        '<Transfer transferCallerId="+15555550199" transferCallerDisplayName="Front Desk" '
        f'privacy="true" callTimeout="15" transferCompleteUrl="/done" '
        f'transferCompleteMethod="GET" transferCompleteFallbackUrl="{URL}" '
        f'transferCompleteFallbackMethod="GET" {WH} diversionTreatment="stack" '
        'diversionReason="user-busy">'
        f"<PhoneNumber>+15555550100</PhoneNumber>{SIP_XML}</Transfer>",
        bxml.Transfer(
            transfer_caller_id="+15555550199",
            transfer_caller_display_name="Front Desk",
            privacy=True,
            call_timeout=15,
            transfer_complete_url="/done",
            transfer_complete_method="GET",
            transfer_complete_fallback_url=URL_VALUE,
            transfer_complete_fallback_method="GET",
            **WH_FIELDS,
            diversion_treatment="stack",
            diversion_reason="user-busy",
            targets=(bxml.PhoneNumber("+15555550100"), SIP),
        ),
    ),
    (
        '<Forward to="sip:desk@pbx.example.com" from="Anonymous" privacy="true" '
        'callerDisplayName="Reception" callTimeout="300" diversionTreatment="propagate" '
        'diversionReason="no-answer" uui="aGVsbG8=;encoding=base64"/>',
        bxml.Forward(
            to="sip:desk@pbx.example.com",
            from_="Anonymous",
            privacy=True,
            caller_display_name="Reception",
            call_timeout=300,
            diversion_treatment="propagate",
            diversion_reason="no-answer",
            uui="aGVsbG8=;encoding=base64",
        ),
    ),
    (
        '<Bridge bridgeCompleteUrl="/bc" bridgeCompleteMethod="GET" bridgeCompleteFallbackUrl="/bcf" '
        'bridgeCompleteFallbackMethod="GET" bridgeTargetCompleteUrl="/btc" '
        'bridgeTargetCompleteMethod="GET" bridgeTargetCompleteFallbackUrl="/btcf" '
        f'bridgeTargetCompleteFallbackMethod="GET" {WH}>'
        "c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85</Bridge>",
        bxml.Bridge(
            "c-15ac29a2-1331029c-2cb0-4a07-b215-b22865662d85",
            bridge_complete_url="/bc",
            bridge_complete_method="GET",
            bridge_complete_fallback_url="/bcf",
            bridge_complete_fallback_method="GET",
            bridge_target_complete_url="/btc",
            bridge_target_complete_method="GET",
            bridge_target_complete_fallback_url="/btcf",
            bridge_target_complete_fallback_method="GET",
            **WH_FIELDS,
        ),
    ),
    (
        f'<Refer referCompleteUrl="/refer" referCompleteMethod="GET" tag="r">{SIP_XML}</Refer>',
        bxml.Refer(SIP, refer_complete_url="/refer", refer_complete_method="GET", tag="r"),
    ),
    ("<Endpoint>ep-1</Endpoint>", bxml.Endpoint("ep-1")),
    (
        '<Connect eventCallbackUrl="/ev" eventFallbackUrl="/evfb">'
        "<Endpoint>ep-1</Endpoint><Endpoint>ep-2</Endpoint></Connect>",
        bxml.Connect(
            event_callback_url="/ev",
            event_fallback_url="/evfb",
            endpoints=(bxml.Endpoint("ep-1"), bxml.Endpoint("ep-2")),
        ),
    ),
    (
        '<Conference mute="true" hold="true" callIdsToCoach="c-1,c-2" conferenceEventUrl="/conf" '
        f'conferenceEventMethod="GET" conferenceEventFallbackUrl="{URL}" '
        f'conferenceEventFallbackMethod="GET" {WH} callbackTimeout="12.5">my-conf_1.x</Conference>',
        bxml.Conference(
            "my-conf_1.x",
            mute=True,
            hold=True,
            call_ids_to_coach="c-1,c-2",
            conference_event_url="/conf",
            conference_event_method="GET",
            conference_event_fallback_url=URL_VALUE,
            conference_event_fallback_method="GET",
            **WH_FIELDS,
            callback_timeout=12.5,
        ),
    ),
    (
        '<Record recordCompleteUrl="/rc" recordCompleteMethod="GET" recordCompleteFallbackUrl="/rcf" '
        'recordCompleteFallbackMethod="GET" recordingAvailableUrl="/ra" '
        'recordingAvailableMethod="GET" transcribe="true" detectLanguage="true" '
        'transcriptionAvailableUrl="/ta" transcriptionAvailableMethod="GET" '
        f'{WH} terminatingDigits="" maxDuration="10800" silenceTimeout="3" fileFormat="mp3" '
        'recordingName="voicemail"/>',
        bxml.Record(
            record_complete_url="/rc",
            record_complete_method="GET",
            record_complete_fallback_url="/rcf",
            record_complete_fallback_method="GET",
            recording_available_url="/ra",
            recording_available_method="GET",
            transcribe=True,
            detect_language=True,
            transcription_available_url="/ta",
            transcription_available_method="GET",
            **WH_FIELDS,
            terminating_digits="",
            max_duration=10800,
            silence_timeout=3,
            file_format="mp3",
            recording_name="voicemail",
        ),
    ),
    (
        '<StartRecording recordingAvailableUrl="/ra" recordingAvailableMethod="GET" '
        'transcribe="true" detectLanguage="true" transcriptionAvailableUrl="/ta" '
        'transcriptionAvailableMethod="GET" username="u" password="p" tag="t-1" '
        'fileFormat="mp3" multiChannel="true" recordingName="call"/>',
        bxml.StartRecording(
            recording_available_url="/ra",
            recording_available_method="GET",
            transcribe=True,
            detect_language=True,
            transcription_available_url="/ta",
            transcription_available_method="GET",
            username="u",
            password="p",
            tag="t-1",
            file_format="mp3",
            multi_channel=True,
            recording_name="call",
        ),
    ),
    ("<StopRecording/>", bxml.StopRecording()),
    ("<PauseRecording/>", bxml.PauseRecording()),
    ("<ResumeRecording/>", bxml.ResumeRecording()),
    ('<StreamParam name="a" value="1"/>', bxml.StreamParam(name="a", value="1")),
    (
        '<StartStream name="s1" tracks="both" destination="wss://media.example.com/ws" '
        'destinationUsername="du" destinationPassword="dp" mode="bidirectional" '
        'streamEventUrl="/se" streamEventMethod="GET" username="u" password="p">'
        '<StreamParam name="a" value="1"/><StreamParam name="b" value="x y"/></StartStream>',
        bxml.StartStream(
            name="s1",
            tracks="both",
            destination="wss://media.example.com/ws",
            destination_username="du",
            destination_password="dp",
            mode="bidirectional",
            stream_event_url="/se",
            stream_event_method="GET",
            username="u",
            password="p",
            stream_params=(
                bxml.StreamParam(name="a", value="1"),
                bxml.StreamParam(name="b", value="x y"),
            ),
        ),
    ),
    ('<StopStream name="s1" wait="true"/>', bxml.StopStream(name="s1", wait=True)),
    ('<CustomParam name="k" value="v"/>', bxml.CustomParam(name="k", value="v")),
    (
        '<StartTranscription name="t1" tracks="outbound" transcriptionEventUrl="/te" '
        'transcriptionEventMethod="GET" username="u" password="p" '
        'destination="wss://stt.example.com" stabilized="false" detectLanguage="true" '
        'preferredLanguages="en-US,es-US"><CustomParam name="k" value="v"/></StartTranscription>',
        bxml.StartTranscription(
            name="t1",
            tracks="outbound",
            transcription_event_url="/te",
            transcription_event_method="GET",
            username="u",
            password="p",
            destination="wss://stt.example.com",
            stabilized=False,
            detect_language=True,
            preferred_languages="en-US,es-US",
            custom_params=(bxml.CustomParam(name="k", value="v"),),
        ),
    ),
    ('<StopTranscription name="t1"/>', bxml.StopTranscription(name="t1")),
]

IDS = [xml[1 : xml.index(" ") if " " in xml[:20] else xml.index(">")] for xml, _ in FULL]


@pytest.mark.parametrize(("xml", "expected"), FULL, ids=IDS)
def test_parses_every_attribute(xml: str, expected: bxml.Hangup) -> None:
    cls = type(expected)
    assert cls.parse(etree.fromstring(xml)) == expected


@pytest.mark.parametrize(("xml", "expected"), FULL, ids=IDS)
def test_renders_back_the_same_xml(xml: str, expected: bxml.Hangup) -> None:
    assert expected.to_xml() == xml


@pytest.mark.parametrize(("xml", "expected"), FULL, ids=IDS)
def test_tables_name_every_attribute(xml: str, expected: bxml.Hangup) -> None:
    """Guards the tables: a new attribute on a class must get a row here."""
    element = etree.fromstring(xml)
    wire = {attr.xml for _, attr, _ in spec_of(type(expected)).attrs}
    assert wire == set(element.attrib)


def test_tables_cover_every_element() -> None:
    assert {type(expected).TAG for _, expected in FULL} == set(REGISTRY)
    # 25 verbs of api-docs and python-sdk, Refer (python-sdk 23.3.1 only), 5 nested elements
    assert len(bxml.VERBS) == 26 and len(REGISTRY) == 31


def test_values_are_typed() -> None:
    gather = bxml.Gather.parse(etree.fromstring(FULL[2][0]))
    assert isinstance(gather.max_digits, int) and gather.max_digits == 10
    assert isinstance(gather.inter_digit_timeout, float) and gather.inter_digit_timeout == 2.5
    assert gather.profanity_filter is False
    assert gather.gather_url == URL_VALUE
    record = bxml.Record.parse(etree.fromstring('<Record maxDuration="30"/>'))
    assert isinstance(record.max_duration, float) and record.max_duration == 30.0


def test_a_document_of_every_verb_round_trips() -> None:
    verbs = [v for _, v in FULL if type(v).TAG in bxml.VERBS]
    document = bxml.Document("Bxml", tuple(verbs))  # type: ignore[arg-type]
    rendered = document.render()
    assert bxml.parse_document(rendered) == document
    assert bxml.parse_document(rendered).render() == rendered
