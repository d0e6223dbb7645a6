"""Emotion: per-segment sentiment and emotion, per-call summaries, daily trends."""
