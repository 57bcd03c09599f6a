"""New versions on the compacted topic cobol.dict.versions (key "state": the latest wins)."""
from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from cobol_mesh import kafka
from cobol_mesh.settings import settings

KEY = b"state"


def ensure_topic(topic: str, log) -> None:
    """Create the topic compacted if it does not exist (scripts/infra/topics.json may lack it)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    md = admin.list_topics(timeout=30)
    if topic in md.topics:
        return
    brokers = len(md.brokers)
    fut = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=min(3, max(1, brokers)),
                                        config={"cleanup.policy": "compact",
                                                "min.insync.replicas": "2" if brokers >= 3 else "1"})])
    for _t, f in fut.items():
        try:
            f.result(30)
            log.info("federator.topic_created", topic=topic)
        except Exception as exc:                 # created concurrently by another instance
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


class Broadcaster:
    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.producer = kafka.producer()

    def __call__(self, state) -> None:
        kafka.produce(self.producer, self.topic, KEY, state.SerializeToString())
        kafka.flush_or_raise(self.producer, timeout=30)

    def close(self) -> None:
        self.producer.flush(10)
