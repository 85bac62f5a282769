"""The carrier edge: one interface (base.py); the simulator is the default carrier."""
