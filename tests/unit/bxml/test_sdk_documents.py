"""Documents the official Python SDK renders, verbatim: `Response(...).to_bxml()` of
bandwidth-sdk 23.3.1 (current) and 23.1.4 (the last before 23.3: Conference name as an attribute,
booleans as str(True) = "True", misspelled fallback attributes), rendered in a scratch venv.
Each parses strictly (no attribute the model does not know) into the expected verbs, and
OpenBand's rendering of them parses back equal."""

from __future__ import annotations

import pytest

from openband import bxml

# fmt: off
# bandwidth-sdk 23.3.1
SDK_23_3_1 = {
    "speak": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><SpeakSentence voice="julie">Hello <say-as interpret-as="telephone">5551234567</say-as> there</SpeakSentence><Hangup /></Response>',
    "bxml": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Bxml><Pause duration="3" /><Ring duration="2.5" answerCall="false" /></Bxml>',
    "gather": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Gather gatherUrl="https://e.com/g" gatherMethod="GET" tag="t" terminatingDigits="#" maxDigits="4" interDigitTimeout="3" firstDigitTimeout="10" repeatCount="2"><SpeakSentence gender="male" locale="en_UK">Press a key</SpeakSentence><PlayAudio username="u" password="p">https://e.com/a.wav</PlayAudio></Gather></Response>',
    "transfer": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Transfer transferCallerId="+15551110000" callTimeout="15" transferCompleteUrl="/tc" diversionTreatment="stack" diversionReason="user-busy"><PhoneNumber transferAnswerUrl="/ans" uui="abc;encoding=base64">+15555555555</PhoneNumber><SipUri uui="x;encoding=jwt" transferDisconnectUrl="/d">sip:a@b.com</SipUri></Transfer></Response>',
    "bridge": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Bridge bridgeCompleteUrl="/bc" bridgeTargetCompleteUrl="/btc" bridgeTargetCompleteFallbackUrl="/btcf" tag="x">c-123</Bridge></Response>',
    "conference": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Conference mute="true" hold="false" callIdsToCoach="c-1,c-2" conferenceEventUrl="/ce" callbackTimeout="5.5">my-conf</Conference></Response>',
    "record": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Record recordCompleteUrl="/rc" recordCompleteFallbackUrl="/rcf" recordCompleteFallbackMethod="GET" transcribe="true" terminatingDigits="*" maxDuration="30" silenceTimeout="3" fileFormat="mp3" /></Response>',
    "recording": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><StartRecording recordingAvailableUrl="/ra" transcribe="true" fileFormat="wav" multiChannel="true" /><PauseRecording /><ResumeRecording /><StopRecording /></Response>',
    "stream": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><StartStream destination="wss://s.example/x" name="s1" mode="bidirectional" tracks="both" streamEventUrl="/se"><StreamParam name="a" value="1" /></StartStream><StopStream name="s1" wait="true" /></Response>',
    "transcription": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><StartTranscription name="t1" tracks="both" destination="wss://t" stabilized="false"><CustomParam name="k" value="v" /></StartTranscription><StopTranscription name="t1" /></Response>',
    "misc": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><SendDtmf toneDuration="100" toneInterval="300">12w34</SendDtmf><Forward to="+15550001111" from="+15550002222" callTimeout="20" diversionTreatment="propagate" uui="x;encoding=base64" /><Tag>newtag</Tag><StartGather dtmfUrl="/dtmf" dtmfMethod="GET" tag="g" /><StopGather /><Redirect redirectUrl="/r" redirectMethod="GET" tag="r" /></Response>',
    "connect": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Connect eventCallbackUrl="/ev"><Endpoint>ep-1</Endpoint><Endpoint>ep-2</Endpoint></Connect></Response>',
    "empty": "<?xml version='1.0' encoding='UTF-8'?>\n<Response />",
    "tag_empty": "<?xml version='1.0' encoding='UTF-8'?>\n<Response><Tag /></Response>",
    "pause_default": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Pause duration="1" /></Response>',
    "record_default": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Record maxDuration="60" /></Response>',
    "refer": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Refer referCompleteUrl="/refer" referCompleteMethod="GET" tag="r"><SipUri>sip:agent@pbx.example.com</SipUri></Refer></Response>',
    "gather_speech": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Gather gatherUrl="/g" input="dtmf_speech" hints="sales,support" language="en-US" partialResultCallback="/partial" profanityFilter="false" speechModel="default" speechTimeout="3"><SpeakSentence>Say sales or support</SpeakSentence></Gather></Response>',
    "record_new": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Record transcribe="true" detectLanguage="true" maxDuration="60" recordingName="voicemail-1" /></Response>',
    "transfer_privacy": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Transfer privacy="true" transferCallerDisplayName="Anonymous"><PhoneNumber>+15555555555</PhoneNumber></Transfer></Response>',
    "forward_privacy": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Forward to="sip:x@y.com" privacy="true" callerDisplayName="Private" /></Response>',
    "connect_fallback": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Connect eventCallbackUrl="/ev" eventFallbackUrl="/evfb"><Endpoint>ep-1</Endpoint></Connect></Response>',
    "transcription_languages": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><StartTranscription name="t1" detectLanguage="true" preferredLanguages="en-US,es-US" /></Response>',
}

# bandwidth-sdk 23.1.4 (python-sdk main through ba8d157)
SDK_23_1_4 = {
    "conference": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Conference name="my-conf" mute="True" hold="False" callIdsToCoach="c-1,c-2" conferenceEventUrl="/ce" callbackTimeout="5.5" /></Response>',
    "bridge": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Bridge bridgeCompleteUrl="/bc" bridgeTargetCompleteUrl="/btc" bridgeTargetCompleteFallback_url="/btcf" tag="x">c-123</Bridge></Response>',
    "record": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Record recordCompleteUrl="/rc" recordCompleteFallback_url="/rcf" recordCompleteFallback_method="GET" transcribe="True" terminatingDigits="*" maxDuration="30" silenceTimeout="3" fileFormat="mp3" /></Response>',
    "ring": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Bxml><Ring duration="2.5" answerCall="False" /></Bxml>',
    "recording": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><StartRecording recordingAvailableUrl="/ra" transcribe="True" multiChannel="True" /></Response>',
    "stop_stream": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><StopStream name="s1" wait="True" /></Response>',
    "forward": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><Forward to="+15550001111" from="+15550002222" callTimeout="20" /></Response>',
    "speak": '<?xml version=\'1.0\' encoding=\'UTF-8\'?>\n<Response><SpeakSentence voice="julie">Hello <say-as interpret-as="telephone">5551234567</say-as> there</SpeakSentence></Response>',
}
# fmt: on

ALL = [pytest.param(xml, id=f"23.3.1-{name}") for name, xml in SDK_23_3_1.items()] + [
    pytest.param(xml, id=f"23.1.4-{name}") for name, xml in SDK_23_1_4.items()
]


@pytest.mark.parametrize("xml", ALL)
def test_sdk_documents_parse_strictly_and_round_trip(xml: str) -> None:
    document = bxml.parse_document(xml, strict=True)
    assert bxml.parse_document(document.render(), strict=True) == document


def test_sdk_values() -> None:
    new = {name: bxml.parse_document(xml).verbs for name, xml in SDK_23_3_1.items()}
    old = {name: bxml.parse_document(xml).verbs for name, xml in SDK_23_1_4.items()}
    conference = bxml.Conference(
        "my-conf",
        mute=True,
        call_ids_to_coach="c-1,c-2",
        conference_event_url="/ce",
        callback_timeout=5.5,
    )
    assert new["conference"] == old["conference"] == (conference,)
    assert new["bridge"] == old["bridge"]
    assert new["bridge"][0].bridge_target_complete_fallback_url == "/btcf"
    assert new["record"] == old["record"]
    assert old["record"][0].record_complete_fallback_method == "GET"
    assert old["record"][0].transcribe is True
    assert old["ring"] == new["bxml"][1:] == (bxml.Ring(duration=2.5, answer_call=False),)
    assert old["stop_stream"] == new["stream"][1:] == (bxml.StopStream(name="s1", wait=True),)
    assert old["speak"] == new["speak"][:1]
    assert (
        new["speak"][0].sentence
        == 'Hello <say-as interpret-as="telephone">5551234567</say-as> there'
    )
    assert new["empty"] == ()
    assert new["tag_empty"] == (bxml.Tag(""),)
    assert new["pause_default"] == (bxml.Pause(),)
    assert new["record_default"] == (bxml.Record(),)
    gather = new["gather"][0]
    assert (gather.max_digits, gather.repeat_count, gather.terminating_digits) == (4, 2, "#")
    assert gather.prompts == (
        bxml.SpeakSentence("Press a key", gender="male", locale="en_UK"),
        bxml.PlayAudio("https://e.com/a.wav", username="u", password="p"),
    )
    refer = new["refer"][0]
    assert refer == bxml.Refer(
        bxml.SipUri("sip:agent@pbx.example.com"),
        refer_complete_url="/refer",
        refer_complete_method="GET",
        tag="r",
    )
    speech = new["gather_speech"][0]
    assert (speech.input, speech.profanity_filter, speech.speech_timeout) == (
        "dtmf_speech",
        False,
        3,
    )
    forward = new["misc"][1]
    assert (forward.to, forward.from_, forward.call_timeout) == ("+15550001111", "+15550002222", 20)
