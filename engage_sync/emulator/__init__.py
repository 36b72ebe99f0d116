"""A local Engage-compatible server: one WSGI application, served in-process or on a socket."""

from .app import Emulator, Settings
from .seed import default_seed, load_seed

__all__ = ["Emulator", "Settings", "default_seed", "load_seed"]
