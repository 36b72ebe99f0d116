"""engage-sync: lead sets as code for RingCentral Engage Voice (RingCX)."""

__version__ = "0.1.0"
