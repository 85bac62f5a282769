"""Text to speech with espeak-ng, for SpeakSentence and the simulator's talking handsets.

`Speech.speak` turns a sentence (plain text, or Bandwidth's SSML subset) into 8 kHz mono Audio
labelled "speech(<voice>): <what was said>". Bandwidth's voices (Amazon Polly's behind them, AD
site/docs/voice/bxml/speakSentence.mdx) map to an espeak-ng language and a female or male
variant; `gender` and `locale` pick one when `voice` is absent, as Bandwidth does (default
female en_US, "susan"; the other gender when a locale has none of the one asked for).

espeak-ng runs as a subprocess in a small thread pool: measured against asyncio subprocesses
(30 sentences, 2 at a time), threads took about a third of the event loop's CPU time (0.7 ms
against 2.4 ms a sentence) with half the worst-case loop lag, and the WAV parsing and resampling
run in the thread too. The text goes in on stdin, never as an argument an option parser could
read. SSML is parsed here (lxml, no entities, no network), rebuilt from the tags Bandwidth
documents with checked attributes, and only then handed to espeak-ng with -m; text that is not
well-formed XML is spoken as plain text, `<` and `&` included.

Results are cached (LRU bounded by count and by bytes), and identical requests in flight share
one synthesis.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lxml import etree

from openband import xmlsafe
from openband.audio.pcm import Audio, resample
from openband.bxml.speech import VOICES as BANDWIDTH_VOICES

MAX_CHARS = 4096  # Bandwidth documents no limit for SpeakSentence (v1 sentences: 1,000)
MAX_SECONDS = 600.0  # of speech from one text; espeak-ng is stopped past it
TIMEOUT = 60.0  # seconds one espeak-ng run may take
DEBIAN_PACKAGE = "espeak-ng"


class SpeechError(Exception):
    """Speech could not be made (the message says why)."""


class SpeechUnavailable(SpeechError):
    """espeak-ng is not installed."""


class InvalidSpeech(SpeechError, ValueError):
    """The request itself is wrong: unknown voice, gender or locale, blank or too long text."""


# --- voices ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Voice:
    name: str  # Bandwidth's
    locale: str  # as Bandwidth's table spells it
    gender: str  # "female" | "male"
    espeak: str  # espeak-ng language + variant (-v)


# espeak-ng languages by code ("en", not "en-gb", which ignores variants in 1.51); voices of one
# locale get different variants so they sound different. espeak-ng has no Canadian French: fr_CA
# is French. Bandwidth's table itself (names, locales, genders, in its order, which decides the
# voice for a gender and locale) is the BXML model's.
_ESPEAK = {
    "julie": "en-us+f1",
    "kate": "en-us+f2",
    "susan": "en-us+f3",
    "dave": "en-us+m1",
    "paul": "en-us+m3",
    "bridget": "en+f3",
    "simon": "en+m3",
    "katrin": "de+f3",
    "stefan": "de+m3",
    "esperanza": "es+f3",
    "violeta": "es+f4",
    "jorge": "es+m3",
    "rosa": "es-419+f3",
    "jolie": "fr+f3",
    "bernard": "fr+m3",
    "paola": "it+f3",
    "luca": "it+m3",
    "masako": "ja+f3",
    "kenji": "ja+m3",
    "nadiya": "ru+f3",
    "anatoli": "ru+m3",
    "zeina": "ar+f3",
    "zhiyu": "cmn+f3",
    "ruth": "en-us+f4",
    "stephen": "en-us+m2",
    "lupe": "es-419+f4",
    "pedro": "es-419+m2",
    "gabrielle": "fr+f4",
    "liam": "fr+m2",
}
VOICES: dict[str, Voice] = {
    name: Voice(name, locale, gender, _ESPEAK[name])
    for name, (locale, gender) in BANDWIDTH_VOICES.items()
}
DEFAULT_LOCALE = "en_US"
DEFAULT_GENDER = "female"
_PREFERRED = {("en_US", "female"): "susan"}  # "The default speaker susan" (mediaAndTTSGuide)
_LOCALES = {v.locale.lower().replace("-", "_"): v.locale for v in VOICES.values()} | {
    "en_gb": "en_UK",
    "de_de": "de",
    "es_es": "es",
    "fr_fr": "fr",
    "it_it": "it",
    "ja_jp": "ja",
    "ru_ru": "ru",
    "ar": "arb",
    "cmn": "cmn-CN",
    "zh_cn": "cmn-CN",
}


def resolve_voice(
    voice: str | None = None, gender: str | None = None, locale: str | None = None
) -> Voice:
    """The voice a SpeakSentence speaks with: `voice` if given (then gender and locale are
    ignored), else the first of `gender` in `locale`, else the first of the other gender there.
    Raises InvalidSpeech for a name, gender or locale Bandwidth does not have."""
    if voice is not None and voice.strip():
        found = VOICES.get(voice.strip().lower())
        if found is None:
            raise InvalidSpeech(f"unknown voice {voice!r} (one of {', '.join(VOICES)})")
        return found
    wanted = (gender or DEFAULT_GENDER).strip().lower()
    if wanted not in ("female", "male"):
        raise InvalidSpeech(f"unknown gender {gender!r} (female or male)")
    where = _LOCALES.get((locale or DEFAULT_LOCALE).strip().lower().replace("-", "_"))
    if where is None:
        known = sorted({v.locale for v in VOICES.values()})
        raise InvalidSpeech(f"unknown locale {locale!r} (one of {', '.join(known)})")
    if (where, wanted) in _PREFERRED:
        return VOICES[_PREFERRED[(where, wanted)]]
    here = [v for v in VOICES.values() if v.locale == where]
    return next((v for v in here if v.gender == wanted), here[0])


# --- SSML -----------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not text, and not allowed in XML
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_MAX_BREAK_MS = 10_000  # Bandwidth: "a maximum value of 10 seconds"
_PERCENT = r"\d+(\.\d+)?%"
_ATTRIBUTES: dict[str, dict[str, re.Pattern[str]]] = {
    tag: {name: re.compile(rf"^(?:{pattern})$") for name, pattern in attrs.items()}
    for tag, attrs in {
        "break": {"strength": "none|x-weak|weak|medium|strong|x-strong"},  # time: _break_ms
        "emphasis": {"level": "strong|moderate|reduced|none"},
        "prosody": {
            "rate": f"x-slow|slow|medium|fast|x-fast|default|{_PERCENT}",
            "pitch": f"x-low|low|medium|high|x-high|default|[+-]?{_PERCENT}",
            "volume": r"silent|x-soft|soft|medium|loud|x-loud|default|[+-]?\d+(\.\d+)?dB",
        },
        "say-as": {
            "interpret-as": "date|time|telephone|characters|cardinal|ordinal",
            "format": "mdy|dmy|ymd|md|dm|ym|my|d|m|y",
        },
        "p": {},
        "s": {},
    }.items()
}
# <lang xml:lang> (Bandwidth's list) -> espeak-ng's <voice xml:lang>: its pronunciation rules.
_LANGS = {
    "arb": "ar",
    "cmn-cn": "cmn",
    "da-dk": "da",
    "nl-nl": "nl",
    "en-au": "en",
    "en-gb": "en",
    "en-in": "en",
    "en-us": "en-us",
    "fr-fr": "fr",
    "fr-ca": "fr",
    "hi-in": "hi",
    "de-de": "de",
    "is-is": "is",
    "it-it": "it",
    "ja-jp": "ja",
    "ko-kr": "ko",
    "nb-no": "nb",
    "pl-pl": "pl",
    "pt-br": "pt-br",
    "pt-pt": "pt",
    "ro-ro": "ro",
    "ru-ru": "ru",
    "es-es": "es",
    "es-mx": "es-419",
    "es-us": "es-419",
    "sv-se": "sv",
    "tr-tr": "tr",
    "cy-gb": "cy",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """What espeak-ng reads (plain text, or SSML for -m) and what the label says was said."""

    text: str
    ssml: bool
    spoken: str


def prepare(text: str) -> Prepared:
    """Plain text or rebuilt SSML for espeak-ng, from a SpeakSentence's text."""
    clean = _CONTROL.sub(" ", text)
    if "<" in clean or "&" in clean:
        root = _parse(clean)
        if root is not None:
            speak = etree.Element("speak")
            _convert(root, speak)
            spoken = " ".join(_spoken(speak).split())
            return Prepared(etree.tostring(speak, encoding="unicode"), True, spoken)
    return Prepared(clean, False, " ".join(clean.split()))


def _parse(text: str) -> etree._Element | None:
    """The text as an XML fragment under one root, or None if it is not well-formed."""
    body = _XML_DECL.sub("", text, count=1)
    try:
        return xmlsafe.parse(f"<fragment>{body}</fragment>".encode())
    except xmlsafe.XmlError:
        return None


def _convert(source: etree._Element, target: etree._Element) -> None:
    """Copy `source`'s content into `target`, keeping Bandwidth's SSML tags with checked
    attributes and only the text of anything else."""
    _add_text(target, source.text)
    for child in source:
        name = etree.QName(child).localname
        if name == "sub" and child.get("alias") is not None:
            _add_text(target, child.get("alias"))
        elif name == "break":
            element = etree.SubElement(target, "break", _allowed(child, name))
            ms = _break_ms(child.get("time"))
            if ms is not None:
                element.set("time", f"{ms}ms")
            _convert(child, target)  # a break is empty; text put in one is still spoken
        elif name == "lang" and (child.get(_XML_LANG) or "").lower() in _LANGS:
            element = etree.SubElement(target, "voice")
            element.set(_XML_LANG, _LANGS[child.get(_XML_LANG).lower()])
            _convert(child, element)
        elif name in _ATTRIBUTES:
            _convert(child, etree.SubElement(target, name, _allowed(child, name)))
        else:  # speak, sub without alias, phoneme (espeak-ng reads no IPA), unknown tags
            _convert(child, target)
        _add_text(target, child.tail)


def _spoken(element: etree._Element) -> str:
    """The text of rebuilt SSML, with a space where a paragraph, sentence or break ends a word."""
    parts = [element.text or ""]
    for child in element:
        edge = " " if child.tag in ("p", "s", "break") else ""
        parts += [edge, _spoken(child), edge, child.tail or ""]
    return "".join(parts)


def _allowed(element: etree._Element, name: str) -> dict[str, str]:
    checks = _ATTRIBUTES.get(name, {})
    return {
        attr: value.strip()
        for attr, value in element.attrib.items()
        if attr in checks and checks[attr].match(value.strip())
    }


def _break_ms(value: str | None) -> int | None:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*", value or "")
    if match is None:
        return None
    ms = float(match[1]) * (1000 if match[2] == "s" else 1)
    return min(round(ms), _MAX_BREAK_MS)


def _add_text(element: etree._Element, text: str | None) -> None:
    if not text:
        return
    if len(element):
        last = element[-1]
        last.tail = (last.tail or "") + text
    else:
        element.text = (element.text or "") + text


# --- synthesis ------------------------------------------------------------------------------------


class Speech:
    """espeak-ng behind a bounded thread pool, an LRU cache and single-flight requests.

    `syntheses` counts espeak-ng runs and `cache_hits` answers from the cache.
    """

    def __init__(
        self,
        workers: int = 2,
        cache_items: int = 512,
        executable: str = "espeak-ng",
        *,
        cache_bytes: int = 32 * 1024 * 1024,
        max_chars: int = MAX_CHARS,
        max_seconds: float = MAX_SECONDS,
        timeout: float = TIMEOUT,
        rate: int = 8000,
    ) -> None:
        if workers < 1:
            raise ValueError("Speech needs at least one worker")
        self.executable = executable
        self.max_chars = max_chars
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.rate = rate
        self.syntheses = 0
        self.cache_hits = 0
        self._cache = _Cache(cache_items, cache_bytes)
        self._inflight: dict[tuple[str, str], asyncio.Task[Audio]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="espeak-ng")
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()  # guards _processes (worker threads and close())
        self._path: str | None = None
        self._closed = False

    async def speak(
        self,
        text: str,
        *,
        voice: str | None = None,
        gender: str | None = None,
        locale: str | None = None,
    ) -> Audio:
        """`text` spoken at 8 kHz (see the module docstring). Raises InvalidSpeech for a bad
        request, SpeechUnavailable without espeak-ng, SpeechError if espeak-ng fails."""
        if self._closed:
            raise SpeechError("speech synthesis is closed")
        if len(text) > self.max_chars:
            raise InvalidSpeech(f"text longer than {self.max_chars} characters ({len(text)})")
        if not text.strip():
            raise InvalidSpeech("text is blank")
        chosen = resolve_voice(voice, gender, locale)
        key = (text, chosen.name)
        cached = self._cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            return cached
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._synthesize(key, chosen))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._landed(key, t))
        # shield: a caller that gives up does not cancel the synthesis others wait for.
        return await asyncio.shield(task)

    async def close(self) -> None:
        """Stop: running espeak-ng processes are killed, waiting requests fail."""
        self._closed = True
        with self._lock:
            for process in self._processes:
                process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def _landed(self, key: tuple[str, str], task: asyncio.Task[Audio]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved even when every waiter has gone

    async def _synthesize(self, key: tuple[str, str], voice: Voice) -> Audio:
        if self._path is None:
            self._path = shutil.which(self.executable)
            if self._path is None:
                raise _unavailable(self.executable)
        self.syntheses += 1
        loop = asyncio.get_running_loop()
        try:
            audio = await loop.run_in_executor(self._pool, self._run, key[0], voice)
        except (asyncio.CancelledError, RuntimeError):
            if self._closed:  # the pool was shut down under it
                raise SpeechError("speech synthesis is closed") from None
            raise
        self._cache.put(key, audio)
        return audio

    def _run(self, text: str, voice: Voice) -> Audio:
        """In a worker thread: one espeak-ng run, its WAV parsed and resampled."""
        prepared = prepare(text)
        args = [self._path or self.executable, "--stdout", "--stdin", "-b", "1", "-v", voice.espeak]
        if prepared.ssml:
            args.append("-m")
        limit = 44 + int(self.max_seconds * 22050) * 2  # espeak-ng's rate; checked again below
        with tempfile.TemporaryFile() as errors:
            try:
                process = subprocess.Popen(
                    args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
                )
            except FileNotFoundError:
                raise _unavailable(self.executable) from None
            with self._lock:
                self._processes.add(process)
                if self._closed:  # close() went through the set before this one was in it
                    process.kill()
            expired = threading.Event()
            timer = threading.Timer(self.timeout, lambda: (expired.set(), process.kill()))
            timer.start()
            try:
                out = _exchange(process, prepared.text.encode("utf-8", "replace"), limit)
                code = process.wait()
            finally:
                timer.cancel()
                if process.poll() is None:
                    process.kill()
                    process.wait()
                with self._lock:
                    self._processes.discard(process)
            if out is None:
                raise InvalidSpeech(f"the speech would last more than {self.max_seconds:g} s")
            if code != 0:
                if self._closed:
                    raise SpeechError("speech synthesis is closed")
                if expired.is_set():
                    raise SpeechError(f"espeak-ng took more than {self.timeout:g} s")
                errors.seek(0)
                message = errors.read(500).decode("utf-8", "replace").strip()
                raise SpeechError(f"espeak-ng failed (exit {code}): {message}")
        pcm, rate = _wav_pcm(out)
        if len(pcm) > self.max_seconds * rate * 2:
            raise InvalidSpeech(f"the speech would last more than {self.max_seconds:g} s")
        label = f"speech({voice.name}): {prepared.spoken}"
        return resample(Audio(pcm, rate, label), self.rate)


def _exchange(process: subprocess.Popen[bytes], data: bytes, limit: int) -> bytes | None:
    """Write `data` to stdin and read stdout, or None (process killed) past `limit` bytes.
    Writing first cannot deadlock: espeak-ng --stdin reads all its input before it speaks."""
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(data)
        process.stdin.close()
    except BrokenPipeError:  # it died early (a bad voice): its exit code says why
        pass
    chunks: list[bytes] = []
    total = 0
    while chunk := process.stdout.read(65536):
        total += len(chunk)
        if total > limit:
            process.kill()
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _wav_pcm(data: bytes) -> tuple[bytes, int]:
    """PCM and rate from espeak-ng's --stdout WAV, whose sizes are placeholders (it cannot
    seek back to fill them in): everything after the data chunk's header is audio."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("espeak-ng did not write a WAV")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"fmt ":
            fields = data[pos + 8 : pos + 24]
            channels, bits = int.from_bytes(fields[2:4], "little"), fields[14]
            if channels != 1 or bits != 16:
                raise SpeechError(f"espeak-ng wrote {channels} channels of {bits} bits")
            rate = int.from_bytes(fields[4:8], "little")
        elif chunk == b"data":
            if not rate:
                raise SpeechError("espeak-ng wrote no fmt chunk")
            pcm = data[pos + 8 :]
            return pcm[: len(pcm) & ~1], rate
        pos += 8 + size + (size & 1)
    raise SpeechError("espeak-ng wrote no audio")


def _unavailable(executable: str) -> SpeechUnavailable:
    return SpeechUnavailable(
        f"speech synthesis needs {executable}, which is not installed here "
        f"(Debian/Ubuntu: apt-get install {DEBIAN_PACKAGE})"
    )


class _Cache:
    """LRU of Audio bounded by item count and by total PCM bytes."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items, self.max_bytes = max_items, max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, str], Audio] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, str]) -> Audio | None:
        audio = self._items.get(key)
        if audio is not None:
            self._items.move_to_end(key)
        return audio

    def put(self, key: tuple[str, str], audio: Audio) -> None:
        size = len(audio.pcm)
        if size > self.max_bytes or self.max_items <= 0:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= len(old.pcm)
        self._items[key] = audio
        self.bytes += size
        while len(self._items) > self.max_items or self.bytes > self.max_bytes:
            _, evicted = self._items.popitem(last=False)
            self.bytes -= len(evicted.pcm)
