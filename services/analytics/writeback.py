"""A faust table seen through the processing of one record: each key the record changes
is written once, to the table and to its changelog partition, when the record is done.

faust writes a changelog record on every assignment, to the partition of the event being
processed. One record changes a key several times (a frame adds to several dimensions of
one bucket); this writes it once, to the partition the caller names (the source partition,
which every key in stats.py carries).

`drain()` applies the changes to the table's data and returns the changelog records; the
caller publishes them in the same Kafka transaction as the record's offset (app.py attaches
them to the record's event). Two faust paths do not give that, as the kill test in
tests/integration/test_analytics.py showed: `Table.__setitem__` queues its record with
`send_soon` in a buffer that the exactly-once commit does not flush first (offsets can be
committed without their table updates), and an immediate `Topic.send` can land in a
transaction that a timer commits between two sends of one batch (table updates committed
without their offsets, counted again after a restart). Batching records with
`Stream.take_events` also lost updates in that test, so each record is its own unit.
"""
from __future__ import annotations

from typing import Any, Iterator, MutableMapping

_DELETED = object()


class WriteBack(MutableMapping):
    def __init__(self, table) -> None:
        self.table = table            # a faust Table (or anything with .data and .send_changelog)
        self.partition = 0            # source partition of the record being applied
        self.dirty: dict[Any, tuple[int, Any]] = {}

    def __getitem__(self, key):
        if key in self.dirty:
            value = self.dirty[key][1]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self.table.data[key]

    def __contains__(self, key) -> bool:
        if key in self.dirty:
            return self.dirty[key][1] is not _DELETED
        return key in self.table.data

    def __setitem__(self, key, value) -> None:
        self.dirty[key] = (self.partition, value)

    def __delitem__(self, key) -> None:
        if key not in self:
            raise KeyError(key)
        self.dirty[key] = (self.partition, _DELETED)

    def __iter__(self) -> Iterator:
        seen = set()
        for key, (_, value) in list(self.dirty.items()):
            seen.add(key)
            if value is not _DELETED:
                yield key
        for key in list(self.table.data.keys()):
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def drain(self) -> list[tuple[int, Any, Any]]:
        """Applies the batch to the table's data and returns its changelog records,
        (partition, key, value), value None for a deletion (a tombstone)."""
        out = []
        for key, (partition, value) in self.dirty.items():
            if value is _DELETED:
                self.table.data.pop(key, None)
                out.append((partition, key, None))
            else:
                self.table.data[key] = value
                out.append((partition, key, value))
        self.dirty.clear()
        return out
