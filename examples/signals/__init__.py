"""1-D signals: a data loader and a 1-D CNN teacher, both brought in by import path."""
