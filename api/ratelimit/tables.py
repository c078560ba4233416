"""Table: fixed-window counters, shared by every API process on PostgreSQL."""

from datetime import datetime

from sqlalchemy import DateTime, String
from sqlmodel import Field, SQLModel


class RateLimitWindow(SQLModel, table=True):
    __tablename__ = "rate_limit_window"

    bucket: str = Field(sa_type=String(200), primary_key=True)
    window_start: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    hits: int = Field(default=0, nullable=False)
