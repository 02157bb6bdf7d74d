"""Exercises on the topic pages: the "🎯 Exercise" panel, the student's identity and the class's progress store."""
from pages.common.lessons.panel import exercise_panel

__all__ = ["exercise_panel"]
