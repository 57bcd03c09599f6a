"""A faust table seen through one batch of records: each key changed by the batch is
written once, to the table and to its changelog partition, when the batch ends.

faust writes a changelog record on every assignment, to the partition of the event being
processed. Counting a batch of records one by one would write the same totals key hundreds
of times; this writes it once, to the partition the caller names (the source partition of
the records that changed it, which every key in stats.py carries), in the same Kafka
transaction as the batch's offsets (processing_guarantee="exactly_once").
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

    def flush(self) -> int:
        """Writes every changed key once (a deletion as a changelog tombstone)."""
        n = len(self.dirty)
        for key, (partition, value) in self.dirty.items():
            if value is _DELETED:
                self.table.data.pop(key, None)
                self.table.send_changelog(partition, key, None, value_serializer="raw")
            else:
                self.table.data[key] = value
                self.table.send_changelog(partition, key, value)
        self.dirty.clear()
        return n
