"""scripts/infra.py against the real engines it starts: Kafka (KRaft, 3 brokers unless
COBOL_KAFKA_BROKERS=1), Redis, PostgreSQL, and moto's S3 server."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
import redis
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "scripts" / "infra.py"
TOPICS = json.loads((ROOT / "scripts" / "infra" / "topics.json").read_text())
BROKERS = int(os.environ.get("COBOL_KAFKA_BROKERS") or 3)
MiB = 1024 * 1024


def run_infra(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(INFRA), *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=600)


def bootstrap(infra: dict) -> str:
    return infra["kafka"]["bootstrap_servers"]


def produce_one(producer: Producer, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    """Produce one record and return (partition, offset) from its delivery report."""
    reports = []
    producer.produce(topic, key=key, value=value, on_delivery=lambda err, msg: reports.append((err, msg)))
    assert producer.flush(30) == 0, "delivery did not complete within 30s"
    err, msg = reports[0]
    assert err is None, err
    return msg.partition(), msg.offset()


def read_from(infra: dict, topic: str, partition: int, offset: int, count: int, **conf) -> list:
    """Read `count` records from one partition starting at `offset` (polls with a deadline)."""
    consumer = Consumer({"bootstrap.servers": bootstrap(infra), "group.id": f"test-{uuid.uuid4()}",
                         "enable.auto.commit": False, "fetch.max.bytes": 64 * MiB,
                         "max.partition.fetch.bytes": 32 * MiB, **conf})
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        got, deadline = [], time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg)
        return got
    finally:
        consumer.close()


def test_topics_exist_with_partitions_rf_and_config(infra):
    admin = AdminClient({"bootstrap.servers": bootstrap(infra)})
    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == BROKERS
    for spec in TOPICS["topics"]:
        topic = md.topics.get(spec["name"])
        assert topic is not None and topic.error is None, spec["name"]
        assert len(topic.partitions) == spec["partitions"], spec["name"]
        for p in topic.partitions.values():
            assert len(p.replicas) == BROKERS and p.leader >= 0, (spec["name"], p.id)
    resources = [ConfigResource("topic", t["name"]) for t in TOPICS["topics"]]
    for res, fut in admin.describe_configs(resources).items():
        cfg = fut.result()
        spec = next(t for t in TOPICS["topics"] if t["name"] == res.name)
        assert cfg["max.message.bytes"].value == str(16 * MiB), res.name
        assert cfg["min.insync.replicas"].value == str(min(2, BROKERS)), res.name
        assert cfg["cleanup.policy"].value == spec["config"].get("cleanup.policy", "delete"), res.name
    # Auto-creation is off: asking for an unknown topic's metadata must not create it.
    ghost = f"cobol.ghost-{uuid.uuid4().hex}"
    producer = Producer({"bootstrap.servers": bootstrap(infra)})
    producer.list_topics(ghost, timeout=10)
    assert ghost not in admin.list_topics(timeout=10).topics, "auto topic creation must be off"
    [broker_cfg] = [f.result() for f in admin.describe_configs([ConfigResource("broker", "1")]).values()]
    assert broker_cfg["auto.create.topics.enable"].value == "false"


def test_produce_and_consume_with_acks_all(infra):
    producer = Producer({"bootstrap.servers": bootstrap(infra), "acks": "all", "enable.idempotence": True})
    key, value = f"stream-{uuid.uuid4()}".encode(), os.urandom(512)
    partition, offset = produce_one(producer, "cobol.ingest.raw", key, value)
    [msg] = read_from(infra, "cobol.ingest.raw", partition, offset, 1)
    assert (msg.key(), msg.value(), msg.offset()) == (key, value, offset)


def test_a_12_mib_record_passes(infra):
    producer = Producer({"bootstrap.servers": bootstrap(infra), "acks": "all",
                         "message.max.bytes": 16 * MiB + 1024, "compression.type": "none"})
    value = os.urandom(12 * MiB)
    partition, offset = produce_one(producer, "cobol.frames", b"big", value)
    [msg] = read_from(infra, "cobol.frames", partition, offset, 1)
    assert msg.value() == value


def test_auto_topic_creation_is_off(infra):
    producer = Producer({"bootstrap.servers": bootstrap(infra), "message.timeout.ms": 3000})
    errors = []
    producer.produce(f"cobol.nope.{uuid.uuid4().hex}", b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert errors and errors[0] is not None


def test_transactional_producer_commits_and_aborts(infra):
    producer = Producer({"bootstrap.servers": bootstrap(infra), "acks": "all",
                         "transactional.id": f"test-infra-{uuid.uuid4()}"})
    producer.init_transactions(60)
    producer.begin_transaction()
    aborted = produce_one(producer, "cobol.jobs.events", b"job-1", b"aborted")
    producer.abort_transaction(30)
    producer.begin_transaction()
    committed = produce_one(producer, "cobol.jobs.events", b"job-1", b"committed")
    producer.commit_transaction(30)
    assert aborted[0] == committed[0]  # same key, same partition
    [msg] = read_from(infra, "cobol.jobs.events", aborted[0], aborted[1], 1, **{"isolation.level": "read_committed"})
    assert (msg.value(), msg.offset()) == (b"committed", committed[1])


def test_redis_set_get(infra):
    r = redis.Redis.from_url(infra["redis"]["url"])
    key = f"test:{uuid.uuid4()}"
    assert r.set(key, b"value", ex=60)
    assert r.get(key) == b"value"
    r.delete(key)


def test_postgres_create_insert_select(infra):
    assert infra["postgres"]["dsn"].startswith("postgresql://cobol:cobol@127.0.0.1:")
    table = f"test_infra_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(infra["postgres"]["dsn"], connect_timeout=10) as conn:
        conn.execute(f"CREATE TABLE {table} (id serial PRIMARY KEY, body bytea NOT NULL)")
        try:
            conn.execute(f"INSERT INTO {table} (body) VALUES (%s), (%s)", [b"a", b"\x00b"])
            rows = conn.execute(f"SELECT body FROM {table} ORDER BY id").fetchall()
            assert [bytes(r[0]) for r in rows] == [b"a", b"\x00b"]
        finally:
            conn.execute(f"DROP TABLE {table}")


def test_s3_put_get(infra):
    s3cfg = infra["s3"]
    s3 = boto3.client("s3", endpoint_url=s3cfg["endpoint_url"], region_name=s3cfg["region"],
                      aws_access_key_id=s3cfg["aws_access_key_id"],
                      aws_secret_access_key=s3cfg["aws_secret_access_key"])
    bucket, body = f"test-{uuid.uuid4().hex[:16]}", os.urandom(4096)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="frames/0001.cobol", Body=body)
    assert s3.get_object(Bucket=bucket, Key="frames/0001.cobol")["Body"].read() == body
    s3.delete_object(Bucket=bucket, Key="frames/0001.cobol")
    s3.delete_bucket(Bucket=bucket)


def pids() -> dict[str, str]:
    state = Path(os.environ.get("COBOL_INFRA_STATE") or ROOT)
    return {p.stem: p.read_text().strip() for p in sorted((state / ".run").glob("*.pid"))}


def test_start_twice_is_harmless(infra):
    before = pids()
    r = run_infra("start")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "already running" in r.stdout
    assert pids() == before
    assert run_infra("wait").returncode == 0


def test_status_reports_running(infra):
    r = run_infra("status")
    assert r.returncode == 0, r.stdout + r.stderr
    expected = [f"kafka-{i}" for i in range(1, BROKERS + 1)] + ["redis", "postgres", "s3"]
    for inst in expected:
        assert any(line.split()[:2] == [inst, "running"] for line in r.stdout.splitlines()), (inst, r.stdout)
    assert infra["postgres"]["dsn"] in r.stdout


def isolated_env(tmp_path: Path, **extra: str) -> dict:
    """An infra.py that keeps .run/.data in tmp_path: it cannot touch the running services."""
    return {**os.environ, "COBOL_INFRA_STATE": str(tmp_path), **extra}


def test_a_taken_port_is_a_clear_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_infra("start", "s3", env=isolated_env(tmp_path, COBOL_S3_PORT=str(port)))
    assert r.returncode == 1
    assert f"port 127.0.0.1:{port} is already in use" in r.stderr
    assert not (tmp_path / ".run" / "s3.pid").exists()


def test_missing_java_is_a_clear_error(tmp_path):
    r = run_infra("start", "kafka", "--no-install",
                  env=isolated_env(tmp_path, COBOL_JAVA=str(tmp_path / "no-java")))
    assert r.returncode == 1
    assert "Java is missing" in r.stderr
    assert not list((tmp_path / ".run").glob("kafka-*.pid"))


def test_consume_batch_without_fill_returns_a_lone_record_without_waiting_out_its_timeout(infra):
    # librdkafka's consume(n, timeout) waits the whole timeout unless n records arrive: every
    # Watch update sat there that long (fill=False is what the Watch uses)
    import threading

    import structlog
    from cobol_mesh import kafka

    from waiting import wait_until

    producer = Producer({"bootstrap.servers": bootstrap(infra), "acks": "all"})
    key, value = f"lone-{uuid.uuid4()}".encode(), b"a record on its own"
    partition, offset = produce_one(producer, "cobol.jobs.events", key, value)
    consumer = Consumer({"bootstrap.servers": bootstrap(infra), "group.id": f"test-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition("cobol.jobs.events", partition, offset)])
        got: list = []
        reader = threading.Thread(target=lambda: got.extend(
            kafka.consume_batch(consumer, 500, 600, structlog.get_logger("test"), "test", fill=False)), daemon=True)
        reader.start()
        wait_until("the lone record, long before the 600 s timeout", lambda: got, 120)
        assert [(m.key(), m.value()) for m in got] == [(key, value)]
    finally:
        reader.join(1)
        consumer.close()
