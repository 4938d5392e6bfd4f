"""dockyard: declarative, git-first ML pipelines (DVC + Hydra + Lightning + pandera)."""

__version__ = "0.1.0"
