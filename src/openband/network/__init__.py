"""The carrier edge: one interface per service (messaging.py, voice.py) and their
implementations: the simulated network (sim/, the default); SMPP and SIP/RTP connectors later.

network/ may use store/ (a carrier with durable state keeps it there) and the leaf modules,
never core/ or api/: core depends on these interfaces, not the other way round.
"""
