"""Small helpers the exercise modules share: answers measured on a structure, the id index."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnn_core.lessons.core import Exercise, Params, Structure
from cnn_core.lessons.measure import measure


def measured(structure: Callable[[Params], Structure]) -> Callable[[Params], Any]:
    """A solve function: the measured quantity of the variant's structure (a shape tuple or an int)."""
    return lambda p: measure(structure(p))


def structural(structure: Callable[[Params], Structure]) -> dict[str, Any]:
    """Exercise fields of an answer measured on a structure: solve=measured(structure), structure=structure."""
    return {"solve": measured(structure), "structure": structure}


def by_id(exercises: list[Exercise]) -> dict[str, Exercise]:
    """Index a list of exercises by id, refusing duplicates (ids are stored with every attempt)."""
    out: dict[str, Exercise] = {}
    for exercise in exercises:
        if exercise.id in out:
            raise ValueError(f"Duplicate exercise id {exercise.id}")
        out[exercise.id] = exercise
    return out
