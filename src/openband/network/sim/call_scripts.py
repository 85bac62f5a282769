"""How a virtual handset behaves on a call: its call script (the "call" object of
PUT /sim/v1/handsets/{number}), used by the voice simulator (voice.py).

The JSON shape (camelCase; every key optional, unknown keys refused so a typo is an error, not a
silently ignored instruction):

    {
      "answer": "answer",            # answer | busy | no-answer | reject | machine
      "answerAfterSeconds": 2,       # how long it rings before answering / busy / rejecting
                                     # (0-300; null or absent: the simulator's default, ~1 s).
                                     # Past the call's ring timeout the caller gives up: timeout.
      "greeting": "Hi, it's Sam…",   # machine only: what the answering machine says on answering
                                     # (absent: a stock voicemail greeting)
      "voice": "kate",               # a SpeakSentence voice the handset speaks with (absent: susan)
      "actions": [                   # answer and machine only, at most 20
        {"on": "heard", "phrase": "press 1", "afterSeconds": 0.5, "press": "1"},
        {"on": "answered", "afterSeconds": 3, "say": "Hi, leave it there"},
        {"on": "answered", "afterSeconds": 10, "hangup": true}
      ]
    }

Each action does exactly one thing — "say" a sentence (synthesised, part of what the platform
hears and records), "press" DTMF digits (0-9 * # A-D), or "hangup": true — `afterSeconds`
(0-3600) after its trigger:
- "on": "answered" (the default): the moment the call is answered (by the handset, or by the
  platform when the handset placed the call);
- "on": "heard": the moment a playback (or DTMF the platform sends) whose label contains
  `phrase` (case-insensitive; a spoken prompt's label holds its text) begins to play to the
  handset. Each such action fires at most once per call, at the first playback that matches.

Errors raise openband.errors.InvalidInput naming the field as the JSON does
("actions[0].afterSeconds"); the API prefixes it with where the script sits in its body.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from openband.bxml.speech import VOICES
from openband.errors import InvalidInput

AnswerMode = Literal["answer", "busy", "no-answer", "reject", "machine"]
ANSWER_MODES: tuple[AnswerMode, ...] = ("answer", "busy", "no-answer", "reject", "machine")
Trigger = Literal["answered", "heard"]
TRIGGERS: tuple[Trigger, ...] = ("answered", "heard")

MAX_ANSWER_AFTER_SECONDS = 300.0  # Bandwidth's longest callTimeout
MAX_AFTER_SECONDS = 3600.0
MAX_ACTIONS = 20
MAX_SPEECH = 1000  # characters of one sentence said (or a machine's greeting)
MAX_PHRASE = 200
MAX_DIGITS = 50
DTMF_DIGITS = frozenset("0123456789*#ABCD")
DEFAULT_GREETING = (
    "Hello, you have reached the voicemail of this number. Please leave a message after the tone."
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SCRIPT_KEYS = frozenset({"answer", "answerAfterSeconds", "greeting", "voice", "actions"})
_ACTION_KEYS = frozenset({"on", "phrase", "afterSeconds", "say", "press", "hangup"})


def _seconds(value: object, field: str, default: float | None) -> float | None:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field} must be a number of seconds", field=field)
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number", field=field)
    return float(value)


def _text(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    return value


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        field = f"{where}{unknown[0]}"
        raise InvalidInput(
            f"unknown field {field} (allowed: {', '.join(sorted(allowed))})", field=field
        )


def check_speech(text: str, field: str) -> None:
    """A sentence a handset may say (InvalidInput naming `field` otherwise)."""
    if not text.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(text) > MAX_SPEECH:
        raise InvalidInput(f"{field} is longer than {MAX_SPEECH} characters", field=field)
    if _CONTROL.search(text):
        raise InvalidInput(f"{field} must not contain control characters", field=field)


@dataclass(frozen=True, slots=True)
class CallAction:
    """One thing the handset does on a call: say, press or hang up, after a trigger."""

    on: Trigger = "answered"
    after_seconds: float = 0.0
    phrase: str | None = None  # on "heard" only
    say: str | None = None
    press: str | None = None
    hangup: bool = False

    def validate(self, where: str = "") -> CallAction:
        if self.on not in TRIGGERS:
            field = f"{where}on"
            raise InvalidInput(f"{field} must be one of {', '.join(TRIGGERS)}", field=field)
        if not 0 <= self.after_seconds <= MAX_AFTER_SECONDS:
            field = f"{where}afterSeconds"
            raise InvalidInput(f"{field} must be between 0 and {MAX_AFTER_SECONDS:g}", field=field)
        if self.on == "heard":
            field = f"{where}phrase"
            if not self.phrase or not self.phrase.strip():
                raise InvalidInput(f"{field} is required when on is heard", field=field)
            if len(self.phrase) > MAX_PHRASE:
                raise InvalidInput(f"{field} is longer than {MAX_PHRASE} characters", field=field)
            if _CONTROL.search(self.phrase):
                raise InvalidInput(f"{field} must not contain control characters", field=field)
        elif self.phrase is not None:
            field = f"{where}phrase"
            raise InvalidInput(f"{field} applies only when on is heard", field=field)
        doing = [k for k, v in (("say", self.say), ("press", self.press)) if v is not None]
        if self.hangup:
            doing.append("hangup")
        if len(doing) != 1:
            field = f"{where}{doing[1] if doing else 'say'}"
            raise InvalidInput(
                f"an action does exactly one of say, press, hangup (at {where or 'the action'})",
                field=field,
            )
        if self.say is not None:
            check_speech(self.say, f"{where}say")
        if self.press is not None:
            field = f"{where}press"
            if not self.press or len(self.press) > MAX_DIGITS:
                raise InvalidInput(f"{field} must be 1 to {MAX_DIGITS} digits", field=field)
            if not set(self.press) <= DTMF_DIGITS:
                raise InvalidInput(f"{field} may hold only 0-9 * # A-D", field=field)
        return self

    def matches(self, label: str) -> bool:
        """Whether hearing something labelled `label` triggers this action."""
        return (
            self.on == "heard" and self.phrase is not None and self.phrase.lower() in label.lower()
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"on": self.on, "afterSeconds": self.after_seconds}
        if self.phrase is not None:
            out["phrase"] = self.phrase
        if self.say is not None:
            out["say"] = self.say
        if self.press is not None:
            out["press"] = self.press
        if self.hangup:
            out["hangup"] = True
        return out

    @classmethod
    def from_json(cls, data: object, where: str = "") -> CallAction:
        if not isinstance(data, Mapping):
            field = where.rstrip(".") or "action"
            raise InvalidInput(f"{field} must be an object", field=field)
        _check_keys(data, _ACTION_KEYS, where)
        hangup = data.get("hangup", False)
        if not isinstance(hangup, bool):
            raise InvalidInput(f"{where}hangup must be true or false", field=f"{where}hangup")
        press = _text(data.get("press"), f"{where}press")
        after = _seconds(data.get("afterSeconds"), f"{where}afterSeconds", 0.0)
        return cls(
            on=cast(Trigger, data.get("on", "answered")),
            after_seconds=cast(float, after),
            phrase=_text(data.get("phrase"), f"{where}phrase"),
            say=_text(data.get("say"), f"{where}say"),
            press=press.upper() if press is not None else None,  # "a" and "A" are one key
            hangup=hangup,
        ).validate(where)


@dataclass(frozen=True, slots=True)
class CallScript:
    """A handset's behaviour on calls (see the module docstring for its JSON)."""

    answer: AnswerMode = "answer"
    answer_after_seconds: float | None = None  # None: the simulator's default
    greeting: str | None = None  # machine only; None: DEFAULT_GREETING
    voice: str | None = None
    actions: tuple[CallAction, ...] = ()

    @property
    def answers(self) -> bool:
        return self.answer in ("answer", "machine")

    @property
    def machine_greeting(self) -> str:
        return self.greeting if self.greeting is not None else DEFAULT_GREETING

    def validate(self) -> CallScript:
        if self.answer not in ANSWER_MODES:
            raise InvalidInput(f"answer must be one of {', '.join(ANSWER_MODES)}", field="answer")
        if self.answer_after_seconds is not None and not (
            0 <= self.answer_after_seconds <= MAX_ANSWER_AFTER_SECONDS
        ):
            raise InvalidInput(
                f"answerAfterSeconds must be between 0 and {MAX_ANSWER_AFTER_SECONDS:g}",
                field="answerAfterSeconds",
            )
        if self.greeting is not None:
            if self.answer != "machine":
                raise InvalidInput("greeting applies only when answer is machine", field="greeting")
            check_speech(self.greeting, "greeting")
        if self.voice is not None and self.voice.lower() not in VOICES:
            raise InvalidInput(
                f"voice must be one of Bandwidth's voices ({', '.join(VOICES)})", field="voice"
            )
        if len(self.actions) > MAX_ACTIONS:
            raise InvalidInput(f"at most {MAX_ACTIONS} actions", field="actions")
        if self.actions and not self.answers:
            raise InvalidInput(
                "actions apply only when answer is answer or machine", field="actions"
            )
        for i, action in enumerate(self.actions):
            action.validate(f"actions[{i}].")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "answerAfterSeconds": self.answer_after_seconds,
            "greeting": self.greeting,
            "voice": self.voice,
            "actions": [a.to_json() for a in self.actions],
        }

    @classmethod
    def from_json(cls, data: object) -> CallScript:
        """Parse and validate (an API body or a row written by to_json)."""
        if not isinstance(data, Mapping):
            raise InvalidInput("a call script must be an object", field="call")
        _check_keys(data, _SCRIPT_KEYS, "")
        actions = data.get("actions")
        if actions is None:
            actions = []
        if not isinstance(actions, list):
            raise InvalidInput("actions must be a list", field="actions")
        if len(actions) > MAX_ACTIONS:  # before parsing them: bound the work
            raise InvalidInput(f"at most {MAX_ACTIONS} actions", field="actions")
        return cls(
            answer=cast(AnswerMode, data.get("answer", "answer")),
            answer_after_seconds=_seconds(
                data.get("answerAfterSeconds"), "answerAfterSeconds", None
            ),
            greeting=_text(data.get("greeting"), "greeting"),
            voice=_text(data.get("voice"), "voice"),
            actions=tuple(CallAction.from_json(a, f"actions[{i}].") for i, a in enumerate(actions)),
        ).validate()
