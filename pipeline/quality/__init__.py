"""Measuring swaps: run a clip through the stages in memory, keeping each input frame beside its output."""
