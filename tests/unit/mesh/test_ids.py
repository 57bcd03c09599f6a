"""The one validator of names (cobol_mesh.ids): anchored patterns, the two job-id namespaces,
profiles, layers and dictionary ids; and ingest's `start` check built on it."""
from __future__ import annotations

import sys
from pathlib import Path

import grpc
import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "libs" / "mesh"), str(ROOT / "libs" / "codec")]

from cobol_mesh import ids  # noqa: E402
from cobol_mesh.proto import pb  # noqa: E402
from services.ingest.upload import UploadAborted, check_start  # noqa: E402

HOSTILE = [".", "..", "a/b", "/etc", "a\x00b", "a\nb", "ok\n", "x" * 129, "é", "ｊｏｂ", "",
           "-lead", ".hidden", "a..b", "job:1:seqs", "jobs:x", " sp", "a b", "kafka-p0-o0",
           "KAFKA-p1-o5", "kafka-anything", "a\\b", "*", "%2e%2e"]


@pytest.mark.parametrize("bad", HOSTILE)
def test_hostile_client_ids_are_refused(bad):
    with pytest.raises(ids.InvalidName):
        ids.check_client_job_id(bad)
    assert not ids.is_job_id(bad) or ids.is_device_job_id(bad)


@pytest.mark.parametrize("good", ["a", "0", "job-1", "J.x_y-z", "x" * 128,
                                  "3f2b9a6e-1c7d-4a55-9b1e-0d9f3a2c7e11"])
def test_client_ids_that_pass(good):
    assert ids.check_client_job_id(good) == good and ids.is_job_id(good)


def test_generated_ids_are_their_own_namespace():
    gen = ids.device_job_id(3, 1200)
    assert gen == "kafka-p3-o1200" and ids.is_device_job_id(gen) and ids.is_job_id(gen)
    with pytest.raises(ids.InvalidName, match="reserved"):
        ids.check_client_job_id(gen)
    # nothing a client may choose is ever a generated id
    for candidate in ("kafka-p3-o1200", "Kafka-p3-o1200", "kafka-p03-o1200"):
        assert not _client_ok(candidate)
    assert not ids.is_device_job_id("kafka-p03-o1") and not ids.is_device_job_id("kafka-p1-o1\n")


def _client_ok(x: str) -> bool:
    try:
        ids.check_client_job_id(x)
        return True
    except ids.InvalidName:
        return False


def test_trailing_newline_is_refused_everywhere():
    assert not _client_ok("job\n")
    with pytest.raises(ids.InvalidName):
        ids.check_stream_key(b"sensor-1\n")
    with pytest.raises(ids.InvalidName):
        ids.check_dictionary("0123456789abcdef\n")
    with pytest.raises(ids.InvalidName):
        ids.check_layers("1-4\n")
    assert ids.check_stream_key(b"sensor:1.a_b-c") == "sensor:1.a_b-c"


@pytest.mark.parametrize("text,ok", [("", True), ("1-4", True), ("1,2,6-7", True), ("7", True),
                                     ("0", False), ("8", False), ("4-1", False), ("1,", False),
                                     ("a", False), ("1 - 4", False), ("1-4-5", False)])
def test_layers(text, ok):
    if ok:
        assert ids.check_layers(text) == text
    else:
        with pytest.raises(ids.InvalidName):
            ids.check_layers(text)


def test_profiles_and_dictionaries():
    assert ids.check_profile("max") == "max"
    with pytest.raises(ids.InvalidName):
        ids.check_profile("MAX")
    assert ids.check_dictionary("") == "" and ids.check_dictionary("none") == "none"
    assert ids.check_dictionary("0123456789abcdef") == "0123456789abcdef"
    for bad in ("0123456789ABCDEF", "0123", "../x", "none\n"):
        with pytest.raises(ids.InvalidName):
            ids.check_dictionary(bad)


@pytest.mark.parametrize("start,words", [
    (pb.UploadStart(job_id=".."), "job_id"),
    (pb.UploadStart(job_id="kafka-p0-o7"), "reserved"),
    (pb.UploadStart(profile="zstd"), "profile"),
    (pb.UploadStart(layers="9"), "layers"),
    (pb.UploadStart(dictionary="latest"), "dictionary"),
    (pb.UploadStart(source="kafka"), "source"),
    (pb.UploadStart(name="n" * 1025), "name"),
])
def test_ingest_refuses_a_bad_start_before_writing_anything(start, words):
    with pytest.raises(UploadAborted) as e:
        check_start(start)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and words in e.value.reason


def test_ingest_start_defaults_and_passes_layers():
    job_id, name, source, profile, layers, dictionary = check_start(pb.UploadStart(layers="1-4"))
    assert ids.check_client_job_id(job_id) and name == job_id and source == "grpc"
    assert (profile, layers, dictionary) == ("fast", "1-4", "")
