"""Table: the write generation, one counter that every committed write moves on."""

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field, SQLModel

import api.records  # noqa: F401 - the naming convention, before any table is made


class WriteGeneration(SQLModel, table=True):
    """One row. A write transaction increments it just before it commits, so a reader that
    sees generation g in its snapshot sees exactly the writes up to g: what was computed from
    one snapshot stays true for every later snapshot of the same generation."""

    __tablename__ = "write_generation"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True)
    value: int = Field(default=0, sa_type=BigInteger, nullable=False)
