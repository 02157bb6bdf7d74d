"""Sections of the Lessons page: the student's box, the lecture overview, the teacher's dashboard."""
