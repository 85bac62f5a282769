"""Documents: roots, the old wrapper, size, hostile XML, rendering, round trips, SSML text, and
the BXML examples of the seed guides (/work/shared/seeds, copied here verbatim)."""

from __future__ import annotations

import pytest

from openband import bxml, xmlsafe

DECL = "<?xml version='1.0' encoding='UTF-8' standalone='yes'?>\n"


def refused(data: bytes | str, **kwargs: object) -> str:
    with pytest.raises(bxml.BxmlError) as info:
        bxml.parse_document(data, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


# --- roots ---------------------------------------------------------------------------------------


def test_both_roots() -> None:
    assert bxml.parse_document(b"<Response><Hangup/></Response>") == bxml.Document(
        "Response", (bxml.Hangup(),)
    )
    assert bxml.parse_document("<Bxml><Hangup/></Bxml>").root == "Bxml"
    assert bxml.parse_document("<Bxml/>", root="Bxml") == bxml.Document("Bxml")
    assert bxml.Document.parse("<Response/>", root="Response") == bxml.Document()


def test_wrong_root() -> None:
    assert refused("<Foo/>") == "The root element must be <Response> or <Bxml>, not <Foo>"
    assert refused("<Bxml/>", root="Response") == "The root element must be <Response>, not <Bxml>"
    assert refused("<Response/>", root="Bxml") == "The root element must be <Bxml>, not <Response>"
    assert refused("<Hangup/>") == "The root element must be <Response> or <Bxml>, not <Hangup>"


def test_an_empty_response_is_a_document() -> None:
    # hangup.mdx: an empty <Response/> is equivalent to <Hangup/>; the interpreter decides.
    assert bxml.parse_document("<Response/>").verbs == ()
    assert bxml.parse_document("<Response>\n  \n</Response>").verbs == ()


def test_the_python_bandwidth_3_wrapper() -> None:
    # python-bandwidth (bandwidth_sdk 3.1.0) tests/bandwidth/test_bxml.py, verbatim
    assert bxml.parse_document(b"<xml><Response><Hangup/></Response></xml>") == bxml.Document(
        "Response", (bxml.Hangup(),)
    )
    assert bxml.parse_document(
        b'<xml><Response><Pause duration="10"/><Hangup/></Response></xml>'
    ) == bxml.Document("Response", (bxml.Pause(duration=10), bxml.Hangup()))
    assert bxml.parse_document("<xml><Bxml/></xml>", root="Bxml").root == "Bxml"
    # only as a wrapper of one root
    assert (
        refused("<xml><Hangup/></xml>")
        == "The root element must be <Response> or <Bxml>, not <xml>"
    )
    assert refused("<xml><Response/><Response/></xml>").endswith("not <xml>")
    assert refused("<xml>x<Response/></xml>") == "xml may not contain text (found 'x')"


def test_a_namespace_is_looked_through() -> None:
    document = bxml.parse_document('<Response xmlns="urn:example"><Hangup/></Response>')
    assert document == bxml.Document("Response", (bxml.Hangup(),))


def test_comments_and_processing_instructions_are_dropped() -> None:
    document = bxml.parse_document("<Response><!-- say hi --><?pi x?><Hangup/></Response>")
    assert document.verbs == (bxml.Hangup(),)


# --- bytes, text, size ---------------------------------------------------------------------------


def test_bytes_or_text_with_any_declaration() -> None:
    xml = '<?xml version="1.0" encoding="UTF-8"?><Response><SpeakSentence>Grüße</SpeakSentence></Response>'
    assert bxml.parse_document(xml) == bxml.parse_document(xml.encode("utf-8"))
    assert bxml.parse_document(xml).verbs[0].sentence == "Grüße"
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><Response><Tag>café</Tag></Response>'
    assert bxml.parse_document(latin.encode("iso-8859-1")).verbs == (bxml.Tag("café"),)
    assert bxml.parse_document(b"\xef\xbb\xbf<Response/>") == bxml.Document()  # UTF-8 BOM


def test_whitespace_before_the_declaration_is_forgiven() -> None:
    assert bxml.parse_document('\n  <?xml version="1.0"?>\n<Response/>') == bxml.Document()


def test_empty_and_malformed() -> None:
    assert refused(b"") == "Document is empty"
    assert refused(" \n\t") == "Document is empty"
    assert refused("<Response>").startswith("Malformed XML: ")
    assert refused("<Response><Hangup></Response>").startswith("Malformed XML: ")
    assert refused("<Response><Tag>&nbsp;</Tag></Response>").startswith("Malformed XML: ")


def test_size_limit_is_64_kb() -> None:
    head, tail = "<Response>", "</Response>"
    exactly = head + " " * (65536 - len(head) - len(tail)) + tail
    assert len(exactly.encode()) == bxml.MAX_DOCUMENT_BYTES == 65536
    assert bxml.parse_document(exactly) == bxml.Document()
    assert refused(exactly.replace(" ", "  ", 1)) == "Document is larger than 65536 bytes"
    # refused before parsing: not even well-formed, still a size error
    assert refused(b"<" * 65537) == "Document is larger than 65536 bytes"
    # counted in UTF-8 bytes, not characters
    text = head + "é" * 32763 + tail
    assert len(text) < 65536 < len(text.encode())
    assert refused(text) == "Document is larger than 65536 bytes"


# --- hostile XML (xmlsafe refuses DTDs and entities) --------------------------------------------

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Response><SpeakSentence>&xxe;</SpeakSentence></Response>"""
XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE Response [<!ENTITY % remote SYSTEM "http://169.254.169.254/evil.dtd"> %remote;]>
<Response/>"""
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<Response><SpeakSentence>&lol9;</SpeakSentence></Response>"""
DOCTYPE_ONLY = b'<!DOCTYPE Response SYSTEM "http://example.com/bxml.dtd"><Response/>'


@pytest.mark.parametrize(
    "data",
    [XXE, XXE_PARAMETER, BILLION_LAUGHS, DOCTYPE_ONLY, XXE.decode()],
    ids=["xxe", "xxe-parameter-entity", "billion-laughs", "doctype", "xxe-as-text"],
)
def test_dtds_and_entities_are_refused(data: bytes | str) -> None:
    assert refused(data) == "DTDs and entity declarations are not allowed"


def test_bxml_error_wraps_xml_error() -> None:
    with pytest.raises(bxml.BxmlError) as info:
        bxml.parse_document(XXE)
    assert isinstance(info.value.__cause__, xmlsafe.XmlError)


# --- rendering and round trips -------------------------------------------------------------------


def test_render_writes_xmlsafes_declaration() -> None:
    document = bxml.Document(verbs=(bxml.SpeakSentence("Hi"), bxml.Hangup()))
    expected = DECL + "<Response><SpeakSentence>Hi</SpeakSentence><Hangup/></Response>"
    assert DECL == xmlsafe.DECLARATION
    assert document.render() == expected
    assert bytes(document) == expected.encode()
    assert bxml.render_verbs([bxml.SpeakSentence("Hi"), bxml.Hangup()]) == expected
    assert bxml.render_verbs([], root="Bxml") == DECL + "<Bxml/>"
    assert bxml.Document().render() == DECL + "<Response/>"


def test_render_escapes_and_cleans() -> None:
    document = bxml.Document(
        verbs=(
            bxml.Tag('a<b & "c"'),
            bxml.Redirect(redirect_url="/next?a=1&b=<2>", tag='say "hi"'),
            bxml.Tag("bell\x07"),  # XML 1.0 cannot carry it: U+FFFD, as xmlsafe does
        )
    )
    rendered = document.render()
    assert '<Tag>a&lt;b &amp; "c"</Tag>' in rendered
    assert 'redirectUrl="/next?a=1&amp;b=&lt;2&gt;"' in rendered
    assert "<Tag>bell\ufffd</Tag>" in rendered
    again = bxml.parse_document(rendered)
    assert again.verbs[:2] == document.verbs[:2]


ROUND_TRIPS = [
    "<Response/>",
    "<Bxml><StopRecording/></Bxml>",
    '<Response><Gather gatherUrl="/g" maxDigits="4" firstDigitTimeout="0.5"><SpeakSentence voice="kenji">'
    '<lang xml:lang="ja-JP">こんにちは</lang></SpeakSentence><PlayAudio>a.wav</PlayAudio></Gather>'
    '<Redirect redirectUrl="/r"/></Response>',
    '<Response><Transfer callTimeout="12.25"><PhoneNumber tag="">+15555550100</PhoneNumber>'
    '<SipUri uui="x;encoding=jwt">sip:a@b.example</SipUri></Transfer><Tag/></Response>',
    '<Response><StartStream destination="wss://x"><StreamParam name="a" value="&lt;&amp;&gt;"/>'
    '</StartStream><StopStream name="s"/><Conference name="c" mute="TRUE"/></Response>',
]


@pytest.mark.parametrize("xml", ROUND_TRIPS)
def test_round_trips(xml: str) -> None:
    document = bxml.parse_document(xml)
    rendered = document.render()
    assert bxml.parse_document(rendered) == document
    assert bxml.parse_document(rendered).render() == rendered


# --- SpeakSentence text: SSML kept as markup ------------------------------------------------------


def speak(inner: str) -> bxml.SpeakSentence:
    (verb,) = bxml.parse_document(
        f"<Response><SpeakSentence>{inner}</SpeakSentence></Response>"
    ).verbs
    assert isinstance(verb, bxml.SpeakSentence)
    return verb


def test_ssml_is_kept_as_markup() -> None:
    verb = speak('Hello <say-as interpret-as="telephone">2025551212</say-as>, bye')
    assert verb.sentence == 'Hello <say-as interpret-as="telephone">2025551212</say-as>, bye'
    assert verb.plain_text == "Hello 2025551212, bye"
    assert verb.has_ssml
    nested = speak(
        '<prosody rate="slow">slowly <emphasis level="strong">now</emphasis></prosody> and '
        "<break time='1s'/> <sub alias='World Wide Web'>WWW</sub>."
    )
    assert nested.sentence == (
        '<prosody rate="slow">slowly <emphasis level="strong">now</emphasis></prosody> and '
        '<break time="1s"/> <sub alias="World Wide Web">WWW</sub>.'
    )
    assert nested.plain_text == "slowly now and WWW."
    assert nested.to_xml() == f"<SpeakSentence>{nested.sentence}</SpeakSentence>"


def test_character_references_stay_escaped() -> None:
    verb = speak("Tom &amp; Jerry &lt;3 &#x263A;")
    assert verb.sentence == "Tom &amp; Jerry &lt;3 \u263a"
    assert verb.plain_text == "Tom & Jerry <3 \u263a"
    assert not verb.has_ssml
    assert verb.to_xml() == "<SpeakSentence>Tom &amp; Jerry &lt;3 \u263a</SpeakSentence>"


def test_sentences_built_in_code() -> None:
    assert bxml.SpeakSentence("<break time='1s'/>Hi").sentence == '<break time="1s"/>Hi'
    words = bxml.SpeakSentence.from_text("Tom & Jerry <3", voice="kate")
    assert words.sentence == "Tom &amp; Jerry &lt;3"
    assert (words.plain_text, words.voice) == ("Tom & Jerry <3", "kate")
    with pytest.raises(
        bxml.BxmlError, match=r"^SpeakSentence: the sentence is not well-formed SSML"
    ):
        bxml.SpeakSentence("Tom & Jerry")
    with pytest.raises(
        bxml.BxmlError, match=r"^SpeakSentence: the sentence is not well-formed SSML"
    ):
        bxml.SpeakSentence("a <b")
    with pytest.raises(bxml.BxmlError, match=r"^SpeakSentence may not contain Pause$"):
        bxml.SpeakSentence("Hi <Pause/>")
    with pytest.raises(bxml.BxmlError, match=r"^SpeakSentence: the sentence must not be blank$"):
        bxml.SpeakSentence("  ")


# --- the seeds' BXML (/work/shared/seeds/002_08958b8e7083e7fa.txt), verbatim ---------------------

SEED_CSHARP = """<?xml version="1.0" encoding="UTF-8"?>

<Response>

<SpeakSentence voice="susan" locale="en_US" gender="female">
Hello from Bandwidth.
</SpeakSentence>

</Response>"""
SEED_JAVA = """<?xml version="1.0" encoding="UTF-8"?>

<Response>

<SpeakSentence voice="paul" locale="en_US" gender="male">
Hello from Bandwidth.
</SpeakSentence>

</Response>"""
SEED_RUBY = """<?xml version="1.0" encoding="UTF-8"?><Response><SpeakSentence voice="susan" locale="en_US" gender="female">Hello from Bandwidth</SpeakSentence></Response>"""
SEED_NODE = """<?xml version="1.0" encoding="UTF-8"?>

<Response>

<SpeakSentence voice="susan" locale="en_US" gender="female">
Hello from Bandwidth.
</SpeakSentence>

<Hangup></Hangup>

</Response>"""
# The guide's Python sample builds a v1 <Call> by mistake inside python-bandwidth's wrapper.
SEED_PYTHON = """<xml><Response><Call gender="female" locale="en_US" sentence="Hello from Bandwidth" voice="susan"/></Response></xml>"""


def test_the_seed_examples_parse() -> None:
    susan = bxml.SpeakSentence("Hello from Bandwidth.", voice="susan", locale="en_US")
    assert bxml.parse_document(SEED_CSHARP, strict=True) == bxml.Document("Response", (susan,))
    assert bxml.parse_document(SEED_JAVA).verbs == (
        bxml.SpeakSentence("Hello from Bandwidth.", voice="paul", gender="male"),
    )
    assert bxml.parse_document(SEED_RUBY).verbs == (
        bxml.SpeakSentence("Hello from Bandwidth", voice="susan"),
    )
    assert bxml.parse_document(SEED_NODE).verbs == (susan, bxml.Hangup())


def test_the_seed_python_sample_is_v1_bxml() -> None:
    # The wrapper is understood; <Call> (BXML v1, ap-docs bxml/verbs/call.md) is not a v2 verb.
    assert refused(SEED_PYTHON) == "Unknown verb 'Call' (a BXML v1 verb, not part of BXML v2)"
    fixed = SEED_PYTHON.replace(
        '<Call gender="female" locale="en_US" sentence="Hello from Bandwidth" voice="susan"/>',
        '<SpeakSentence gender="female" locale="en_US" voice="susan">Hello from Bandwidth</SpeakSentence>',
    )
    assert bxml.parse_document(fixed).verbs == (
        bxml.SpeakSentence("Hello from Bandwidth", voice="susan"),
    )
