"""unitpsych: measuring the mechanistic interpretability of vision-model units."""

__version__ = "0.1.0"
