"""The Core table behind a SQLModel class, for domains that prebuild Core statements.

LEAVES = table_of(LedgerLeafRow)
statement = sa.insert(LEAVES)
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

__all__ = ["table_of"]


def table_of(model: type[SQLModel]) -> sa.Table:
    """SQLAlchemy sets ``__table__`` when the class is declared; SQLModel's type stubs do
    not declare it, so it is read from the class dictionary and checked."""
    table = model.__dict__["__table__"]
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table
