"""Speech recognition: the recogniser interface, the Whisper backend, the shared scheduler."""
