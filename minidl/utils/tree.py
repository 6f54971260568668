"""Nested structures of tensors (lists, tuples, dicts), as Keras's ``tree`` utilities.

A model with several inputs or outputs takes and returns such structures; these helpers
walk them with the leaves in a fixed order (lists and tuples in order, dicts by key in
insertion order), so a structure can be flattened and packed back.
"""


def is_nested(value):
    """True for a list, tuple or dict (a structure), False for a leaf."""
    return isinstance(value, (list, tuple, dict))


def flatten(structure):
    """The leaves of ``structure`` in order (a leaf alone gives a one-item list)."""
    if isinstance(structure, dict):
        return [leaf for v in structure.values() for leaf in flatten(v)]
    if isinstance(structure, (list, tuple)):
        return [leaf for v in structure for leaf in flatten(v)]
    return [structure]


def map_structure(fn, structure):
    """The same structure with ``fn`` applied to every leaf."""
    if isinstance(structure, dict):
        return {k: map_structure(fn, v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(map_structure(fn, v) for v in structure)
    return fn(structure)


def is_shape(value):
    """True for a shape: a tuple or list of ints and ``None`` (an empty tuple included)."""
    return isinstance(value, (tuple, list)) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool))
        or type(d).__module__ == "numpy" for d in value)


def map_shapes(fn, shapes):
    """Apply ``fn`` to every shape in a structure of shapes (a shape is itself a tuple, so
    it is recognised by its items, not by its type)."""
    if is_shape(shapes):
        return fn(tuple(shapes))
    if isinstance(shapes, dict):
        return {k: map_shapes(fn, v) for k, v in shapes.items()}
    return [map_shapes(fn, s) for s in shapes]


def flatten_shapes(shapes):
    """The shapes in a structure of shapes, in order, as a list of tuples."""
    if is_shape(shapes):
        return [tuple(shapes)]
    values = shapes.values() if isinstance(shapes, dict) else shapes
    return [s for v in values for s in flatten_shapes(v)]
