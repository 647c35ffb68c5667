"""Voice backends and the emotion DSP they share."""
