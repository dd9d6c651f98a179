"""The engine, the bottom layer: numbers and errors, modes < Value and the primitive record < the
table (`ops`) < the traversal < numpy ufuncs and derived code (`derive`) < transforms
(`transforms`, `func`)."""

# Value, the primitive record and the table are one layer (Value's operators apply
# records, a record makes Values): value binds the table at its end, so it loads first,
# whichever engine module is imported.
from . import value  # noqa: F401
