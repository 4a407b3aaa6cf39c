"""Curriculum policies: fixed schedules (baselines) and the interface a learned policy implements."""
