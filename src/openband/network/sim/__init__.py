"""The simulated phone network, the default carrier: every number no account owns is a virtual
handset you can script, text and (with voice) call.

One module per concern: `behaviours` (how a handset answers what it is sent), `reserved` (the
test numbers with fixed behaviours), `messaging` (the messaging carrier: on-net delivery between
the platform's own numbers, off-net handsets, timers, handsets texting the platform). Its
storage (scripts and the handsets' log) is store/simulator.py. The voice side implements
network/voice.py in the same package when calls arrive.
"""

from openband.network.sim.behaviours import (
    DEFAULT,
    MAX_DELAY_SECONDS,
    MODES,
    OPT_OUT_CODE,
    RECEIPT_EXPIRED_CODE,
    Behaviour,
    Mode,
)
from openband.network.sim.messaging import (
    CARRIER_NAME,
    SimulatorMessaging,
    resolve,
    resolve_many,
)
from openband.network.sim.reserved import (
    RESERVED,
    RESERVED_DELAY_SECONDS,
    ReservedNumber,
    reserved,
)

__all__ = [
    "CARRIER_NAME",
    "DEFAULT",
    "MAX_DELAY_SECONDS",
    "MODES",
    "OPT_OUT_CODE",
    "RECEIPT_EXPIRED_CODE",
    "RESERVED",
    "RESERVED_DELAY_SECONDS",
    "Behaviour",
    "Mode",
    "ReservedNumber",
    "SimulatorMessaging",
    "reserved",
    "resolve",
    "resolve_many",
]
