"""Data: sources (where tables come from) and schemas (what they must look like)."""
