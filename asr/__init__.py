"""Audio decoding, voice activity detection and transcription."""
