"""Audio in: codecs, containers and resampling, voice activity."""
