"""The experiment server (`unitpsych serve`, no rule file): serves the experiment page and the
experiment folders to participants and stores their payloads (protocol §7, §8.1)."""

from unitpsych.server.app import create_app
from unitpsych.server.config import Settings, load_config

__all__ = ["Settings", "create_app", "load_config"]
