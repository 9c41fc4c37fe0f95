"""Recordings in batch: `souffleur transcribe`, the Redis job queue and its workers."""
