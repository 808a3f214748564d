"""Stored data: JSONL segments, rotation, compression, recovery, and the other output formats."""
