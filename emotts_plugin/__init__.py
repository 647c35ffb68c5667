"""emotts: emotional speech for chat, IVR and home-automation hosts."""

from .config import Config, load_config
from .emotion import EmotionSpace, EmotionVector, Preset
from .errors import (
    ConfigError,
    EmottsError,
    HostileInputError,
    MarkupError,
    PluginError,
    PresetError,
    UnknownEmotionError,
)
from .hookspecs import hookimpl
from .options import SpeechOptions
from .plan import Emphasis, ParseWarning, Plan, Segment
from .plugins import get_plugin_manager
from .runtime import Runtime
from .synthesizer import Synthesizer

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "EmotionSpace",
    "EmotionVector",
    "EmottsError",
    "Emphasis",
    "HostileInputError",
    "MarkupError",
    "ParseWarning",
    "Plan",
    "PluginError",
    "Preset",
    "PresetError",
    "Runtime",
    "Segment",
    "SpeechOptions",
    "Synthesizer",
    "UnknownEmotionError",
    "get_plugin_manager",
    "hookimpl",
    "load_config",
]
