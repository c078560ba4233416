"""Planner hints for queries whose best plan must not depend on statistics.

SQLite chooses indexes from ANALYZE's statistics and, without them, guesses that an equality
on any indexed column is selective. ``review_status = 'published'`` is true of nearly every
row, so on a database nobody has analyzed it would drive a join from the review-state index
(every published record) instead of from the twenty ids a page asks for. ``unindexed`` keeps
such a filter a filter: SQLite's documented unary ``+`` takes the column out of index
selection; PostgreSQL keeps its own statistics and is given the plain column.
"""

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class unindexed(FunctionElement[Any]):  # noqa: N801 - reads as a SQL function
    """The column's value, not usable to choose an index (SQLite)."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _plain(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)
