"""Voice v2 on the core: calls (model.py), the BXML interpreter (interpreter.py, effects.py), the
runtime that runs a node's calls (runtime.py), limits (limits.py), and the service the API
families call (service.py). See docs/voice.md."""

from openband.core.voice.directory import Directory
from openband.core.voice.runtime import CallRuntime
from openband.core.voice.service import Voice

__all__ = ["CallRuntime", "Directory", "Voice"]
