"""Results computed from one snapshot of the data, reused until the next write.

Counting every match of a list or a search, and ranking every match of a search, costs time
in proportion to the number of matches: at a million initiatives a broad search reads tens of
thousands of index entries for a page of twenty. Such a result depends only on its inputs and
on the data, and the data changes only when a write transaction commits, which moves the write
generation on (``bump`` runs in every write transaction, see api/db.py). A result is kept
under its key and the generation the reader saw, in the same transaction as its own reads; a
later reader reuses it only while the generation it sees is the same, so what it gets is
exactly what it would have computed (the same query results on the same data), and every API
process on a shared PostgreSQL sees every other's writes at once.

Writes made to the database behind the API's back (SQL typed into a console) move nothing on:
run ``policy-tracker reindex`` after them, or restart the servers.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

from sqlalchemy import Connection, Engine

from api.cache.generation import current_generation, peek_generation
from api.db import read_connection

T = TypeVar("T")


class QueryCache:
    """A least-recently-used map of results of the newest generation seen, bounded in bytes.

    Each result is weighed when kept (a serialized body by its length; anything else counts
    ``SMALL``), so the bound holds whatever mix of totals and pages is kept."""

    SMALL = 200

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self._generation: int | None = None
        self._lock = threading.Lock()  # reads run in the event loop, exports in threads
        self.hits = 0
        self.misses = 0

    def read(
        self,
        engine: Engine,
        key: Hashable,
        compute: Callable[[Connection], T],
        weight: Callable[[T], int] | None = None,
    ) -> T:
        """``compute(conn)`` in a read transaction, or its kept result. A hit costs one
        statement outside any transaction: the newest committed generation, which is the
        one the kept result was computed at, so the reader gets the data as of now."""
        if self.max_bytes > 0:
            found, value = self._kept(peek_generation(engine), key)
            if found:
                return value  # type: ignore[return-value]
        with read_connection(engine) as conn:
            return self.fetch(conn, key, lambda: compute(conn), weight)

    def fetch(
        self,
        conn: Connection,
        key: Hashable,
        compute: Callable[[], T],
        weight: Callable[[T], int] | None = None,
    ) -> T:
        """The result for ``key`` in the snapshot ``conn`` reads: the kept one when it was
        computed at the same generation, else ``compute()`` (run on ``conn``), kept."""
        if self.max_bytes <= 0:
            return compute()
        generation = current_generation(conn)
        if generation is None:
            return compute()
        found, kept = self._kept(generation, key)
        if found:
            return kept  # type: ignore[return-value]
        with self._lock:
            self.misses += 1
        value = compute()
        size = (weight(value) if weight is not None else 0) + self.SMALL
        self._keep(generation, key, value, size)
        return value

    def _kept(self, generation: int | None, key: Hashable) -> tuple[bool, object]:
        """Whether a result for ``key`` computed at ``generation`` is kept, and that result."""
        with self._lock:
            if generation is None or generation != self._generation or key not in self._entries:
                return False, None
            self._entries.move_to_end(key)
            self.hits += 1
            return True, self._entries[key][0]

    def _keep(self, generation: int, key: Hashable, value: object, size: int) -> None:
        if size > self.max_bytes // 8:
            return  # one result must not push out everything else
        with self._lock:
            if self._generation is None or generation > self._generation:
                # A newer generation: everything kept so far describes older data.
                self._entries.clear()
                self._bytes = 0
                self._generation = generation
            elif generation < self._generation:
                return  # computed from an older snapshot than what is kept now
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
