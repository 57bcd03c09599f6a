"""The federator's gRPC API for every service, and a verified, cached dictionary fetcher.

    fed = FederatorClient()                      # COBOL_FEDERATOR_ADDR, default 127.0.0.1:50054
    fed.list_dictionaries(); fed.get("0123456789abcdef"); fed.patterns(id); fed.promote(id)
    fed.rollback(id); fed.rounds(); fed.budget()        # 1:1 with the REST routes
    cache = DictionaryCache(fed)
    cache.get("0123456789abcdef") -> cobol_codec.Dictionary   (content hash checked)
    decode_frame(frame_bytes, cache) -> original bytes          (archive / API read path)
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import grpc
from cobol_mesh import grpc_auth

from . import ids
from .proto import fpb, fpb_grpc


class DictionaryNotFound(LookupError):
    pass


class FederatorClient:
    def __init__(self, addr: str | None = None, timeout: float = 10.0) -> None:
        if addr is None:
            from .config import load
            addr = load().federator_addr
        self.addr = addr
        self.timeout = timeout
        self.channel = grpc_auth.channel(addr, options=[("grpc.max_receive_message_length", 64 << 20),
                                                        ("grpc.max_send_message_length", 64 << 20)])
        self.stub = fpb_grpc.FederatorStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def list_dictionaries(self, limit: int = 100):
        return list(self.stub.ListDictionaries(fpb.ListDictionariesRequest(limit=limit), timeout=self.timeout).dictionaries)

    def get(self, dictionary_id: str) -> fpb.DictionaryInfo:
        return self.stub.GetDictionary(fpb.DictionaryId(id=dictionary_id), timeout=self.timeout)

    def patterns(self, dictionary_id: str, limit: int = 1000):
        return list(self.stub.GetPatterns(fpb.PatternsRequest(id=dictionary_id, limit=limit), timeout=self.timeout).patterns)

    def promote(self, dictionary_id: str) -> fpb.DictionaryState:
        return self.stub.Promote(fpb.DictionaryId(id=dictionary_id), timeout=self.timeout)

    def rollback(self, dictionary_id: str) -> fpb.DictionaryState:
        return self.stub.Rollback(fpb.DictionaryId(id=dictionary_id), timeout=self.timeout)

    def rounds(self, limit: int = 100):
        return list(self.stub.ListRounds(fpb.ListRoundsRequest(limit=limit), timeout=self.timeout).rounds)

    def budget(self) -> fpb.Budget:
        return self.stub.GetBudget(fpb.BudgetRequest(), timeout=self.timeout)

    def state(self) -> fpb.DictionaryState:
        return self.stub.GetState(fpb.StateRequest(), timeout=self.timeout)

    def fetch(self, dictionary_id: str):
        """The dictionary's bytes as a cobol_codec.Dictionary, checked against its id."""
        from cobol_codec import Dictionary
        want = ids.parse(dictionary_id)
        try:
            blob = self.stub.FetchDictionary(fpb.DictionaryId(id=dictionary_id), timeout=self.timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                raise DictionaryNotFound(f"dictionary {dictionary_id} is not in the store") from None
            raise
        d = Dictionary(bytes(blob.content))
        if d.id != want:
            raise DictionaryNotFound(f"the store returned content that does not hash to {dictionary_id}")
        return d


class DictionaryCache:
    """Dictionaries by hex id, fetched once (content-addressed: an entry never goes stale)."""

    def __init__(self, client: FederatorClient, capacity: int = 64) -> None:
        self.client = client
        self.capacity = capacity
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, dictionary_id: str):
        with self._lock:
            if dictionary_id in self._items:
                self._items.move_to_end(dictionary_id)
                return self._items[dictionary_id]
        d = self.client.fetch(dictionary_id)
        with self._lock:
            self._items[dictionary_id] = d
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return d

    def put(self, d) -> None:
        with self._lock:
            self._items[ids.to_hex(d.id)] = d


def decode_frame(frame: bytes, cache: DictionaryCache) -> bytes:
    """One archived frame back to its original bytes, with the dictionary it names."""
    from cobol_codec import FILE_HEADER, decompress
    did = ids.frame_dictionary_id(frame)
    return decompress(bytes(FILE_HEADER) + bytes(frame), cache.get(did) if did else None)
