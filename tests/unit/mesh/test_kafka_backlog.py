"""The compressor's backlog of chunks read beyond one batch (cobol_mesh.kafka.Backlog), with the
offset helpers it is used with. Messages are plain records with Kafka's accessors."""
from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import TopicPartition

from cobol_mesh import kafka


@dataclass(frozen=True)
class Msg:
    t: str
    p: int
    o: int

    def topic(self) -> str:
        return self.t

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.o


def read(p: int, *offsets: int) -> list[Msg]:
    return [Msg("chunks", p, o) for o in offsets]


def test_the_unprocessed_tail_of_a_batch_comes_first_next_time():
    b = kafka.Backlog()
    b.add(read(0, 10, 11, 12) + read(1, 5))
    batch = b.take()
    assert not b and len(b) == 0
    b.add(read(0, 13))                          # read while the batch was coded
    b.put_back(batch[2:])                       # the budget stopped after two chunks
    assert b.take() == read(0, 12) + read(1, 5) + read(0, 13)


def test_revoked_partitions_leave_the_backlog_and_others_keep_their_order():
    b = kafka.Backlog()
    b.add(read(0, 1, 2) + read(1, 7) + read(2, 3) + read(1, 8) + [Msg("other", 1, 4)])
    b.drop([TopicPartition("chunks", 1), TopicPartition("chunks", 9)])
    assert b.take() == read(0, 1, 2) + read(2, 3) + [Msg("other", 1, 4)]


def test_a_failed_batch_is_read_again_from_its_first_offsets_with_the_backlog():
    """After an aborted transaction the consumer seeks to the first offset of the batch and of
    everything in the backlog, per partition, so nothing read is skipped."""
    b = kafka.Backlog()
    b.add(read(0, 20, 21, 22) + read(3, 40))
    batch = b.take()
    b.put_back(batch[1:])
    again = batch[:1] + b.take()
    seeks = {(tp.topic, tp.partition): tp.offset for tp in kafka.first_offsets(again)}
    assert seeks == {("chunks", 0): 20, ("chunks", 3): 40}
    commits = {(tp.topic, tp.partition): tp.offset for tp in kafka.batch_offsets(batch[:1])}
    assert commits == {("chunks", 0): 21}
