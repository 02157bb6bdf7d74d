"""The classroom: a class gallery of published runs (SQLAlchemy: SQLite by default, PostgreSQL for replicas).

No torch and no streamlit in here: a gallery entry is plain data (config dict, seed, metrics, curves).
"""
from cnn_core.classroom.gallery import (DB_ENV, MAX_ENTRIES_PER_EXERCISE, MAX_ENTRIES_TOTAL, MAX_NOTES, Entry,
                                        GalleryError, GalleryFull, GalleryStore, NewEntry, Pin, default_db_url,
                                        escape_markdown, playground_data_dir)

__all__ = ["DB_ENV", "Entry", "GalleryError", "GalleryFull", "GalleryStore", "MAX_ENTRIES_PER_EXERCISE",
           "MAX_ENTRIES_TOTAL", "MAX_NOTES", "NewEntry", "Pin", "default_db_url", "escape_markdown", "playground_data_dir"]
