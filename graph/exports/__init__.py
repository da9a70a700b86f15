"""Exports of a run for fine-tuning: SFT chat records and preference pairs."""
