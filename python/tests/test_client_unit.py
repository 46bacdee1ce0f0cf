"""Unit tests of smfg_client without a coordinator: paths, spec files, result assembly."""

from __future__ import annotations

import os
import tempfile
import unittest
from unittest import mock

import grpc
from google.protobuf import json_format, text_format

import smfg_client
from smfg.v1 import experiment_pb2, spec_pb2, training_pb2
from smfg_client import Client, ExperimentFailed, SmfgError, load_spec, validate_relative_path

from cluster import SOURCE_DIR

SMALL_SPEC = os.path.join(SOURCE_DIR, "configs", "three_bus_small.textproto")


class ValidateRelativePathTest(unittest.TestCase):
    """The same cases as common/files_test.cc (ValidateRelativePathTest)."""

    def test_accepts_plain_relative_paths(self) -> None:
        for ok in ["comparison.json", "plots/convergence.svg", "learned/lmp_by_bus.csv", "a-b_c.d/e", "a" * 500]:
            with self.subTest(path=ok):
                validate_relative_path(ok)

    def test_refuses_everything_that_could_escape_or_hide(self) -> None:
        for bad in ["", "/etc/passwd", "/abs", "../x", "a/../../x", "..", ".", "a//b", "a/",
                    ".hidden", "a/.b", "a\\b", "a b", "x\n", "\u00e9", "a" * 501]:
            with self.subTest(path=bad):
                with self.assertRaises(ValueError):
                    validate_relative_path(bad)

    def test_messages_name_the_problem(self) -> None:
        cases = {
            "../x": "must not start with '.'",
            "/abs": "must be relative",
            ".hidden": "must not start with '.'",
            "a//b": "empty path component",
            "a b": "only letters, digits",
            "a" * 501: "1 to 500",
        }
        for path, why in cases.items():
            with self.subTest(path=path):
                with self.assertRaisesRegex(ValueError, why):
                    validate_relative_path(path)


def chunk(path: str, size: int, offset: int, data: bytes) -> experiment_pb2.ResultChunk:
    return experiment_pb2.ResultChunk(path=path, size=size, offset=offset, data=data)


class AssembleResultsTest(unittest.TestCase):
    def test_assembles_files_from_chunks(self) -> None:
        files = smfg_client._assemble_results(
            "exp-1",
            [
                chunk("a.json", 5, 0, b"ab"),
                chunk("a.json", 5, 2, b"cde"),
                chunk("empty.txt", 0, 0, b""),
                chunk("plots/x.svg", 1, 0, b"x"),
            ],
        )
        self.assertEqual(files, [("a.json", b"abcde"), ("empty.txt", b""), ("plots/x.svg", b"x")])

    def test_refuses_bad_streams_with_data_loss(self) -> None:
        cases = {
            "escapes": ([chunk("../x", 1, 0, b"x")], "must not start with '.'"),
            "absolute": ([chunk("/abs", 1, 0, b"x")], "must be relative"),
            "hidden": ([chunk(".hidden", 1, 0, b"x")], "must not start with '.'"),
            "short last": ([chunk("a", 3, 0, b"ab")], "a ended early"),
            "short middle": ([chunk("a", 3, 0, b"ab"), chunk("b", 1, 0, b"b")], "a ended early"),
            "long": ([chunk("a", 1, 0, b"ab")], "longer than announced"),
            "gap": ([chunk("a", 4, 0, b"ab"), chunk("a", 4, 3, b"c")], "out of order"),
            "other file": ([chunk("a", 4, 0, b"ab"), chunk("b", 4, 2, b"cd")], "out of order"),
            "no start": ([chunk("a", 4, 2, b"cd")], "out of order"),
            "twice": ([chunk("a", 1, 0, b"a"), chunk("a", 1, 0, b"a")], "sent twice"),
            "negative size": ([chunk("a", -1, 0, b"")], "size -1"),
        }
        for name, (chunks, why) in cases.items():
            with self.subTest(case=name):
                with self.assertRaisesRegex(SmfgError, why) as raised:
                    smfg_client._assemble_results("exp-1", chunks)
                self.assertEqual(raised.exception.code, grpc.StatusCode.DATA_LOSS)
                self.assertIn("results of exp-1", raised.exception.message)


class SpecFileTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name: str, content: str) -> str:
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        return path

    def test_text_format_and_json_read_the_same_spec(self) -> None:
        spec = load_spec(SMALL_SPEC)
        self.assertEqual(spec.name, "three_bus_small")
        self.assertEqual(spec.scenario.days, 10)
        self.assertEqual(spec.scenario.WhichOneof("network_source"), "network")
        for suffix in (".txtpb", ".pbtxt"):
            self.assertEqual(load_spec(self.write("s" + suffix, text_format.MessageToString(spec))), spec)
        self.assertEqual(load_spec(self.write("s.json", json_format.MessageToJson(spec))), spec)

    def test_unknown_fields_are_errors(self) -> None:
        with self.assertRaisesRegex(ValueError, r"bad\.textproto:.*no_such_field"):
            load_spec(self.write("bad.textproto", 'name: "x"\nno_such_field: 1\n'))
        with self.assertRaisesRegex(ValueError, r"bad\.json:.*no_such_field"):
            load_spec(self.write("bad.json", '{"name": "x", "no_such_field": 1}'))

    def test_unknown_suffix_and_missing_file(self) -> None:
        with self.assertRaisesRegex(ValueError, "unknown spec format '.yaml'"):
            load_spec(self.write("s.yaml", "name: x"))
        with self.assertRaisesRegex(ValueError, "missing.textproto"):
            load_spec(os.path.join(self.dir.name, "missing.textproto"))

    def test_matpower_file_is_refused_before_anything_is_sent(self) -> None:
        spec = load_spec(SMALL_SPEC)
        spec.scenario.matpower_file = "case3.m"
        path = self.write("matpower.textproto", text_format.MessageToString(spec))
        # Nothing listens on port 1: a call would fail UNAVAILABLE, not ValueError.
        with Client("127.0.0.1:1", timeout=5) as client:
            for what in (spec, path):
                with self.subTest(spec=type(what).__name__):
                    with self.assertRaisesRegex(ValueError, r"matpower_file.*smfg spec FILE > effective\.textproto"):
                        client.submit(what)
            with self.assertRaises(SmfgError) as raised:
                client.get("exp-000001")
            self.assertEqual(raised.exception.code, grpc.StatusCode.UNAVAILABLE)


class ClientOptionsTest(unittest.TestCase):
    def test_address_and_token_from_the_environment(self) -> None:
        with mock.patch.dict(os.environ, {"SMFG_COORDINATOR": "127.0.0.1:1", "SMFG_API_TOKEN": " t0k \n"}):
            with Client() as client:
                self.assertEqual(client.address, "127.0.0.1:1")
                self.assertEqual(tuple(client._metadata), (("authorization", "Bearer t0k"),))
            with Client("127.0.0.1:2", token="") as client:  # "": no token at all
                self.assertEqual(tuple(client._metadata), ())
        with mock.patch.dict(os.environ, {}, clear=True):
            with self.assertRaisesRegex(ValueError, "SMFG_COORDINATOR"):
                Client()

    def test_unreadable_tls_ca_is_an_error(self) -> None:
        with self.assertRaisesRegex(ValueError, "tls_ca /nonexistent/ca.pem"):
            Client("127.0.0.1:1", tls_ca="/nonexistent/ca.pem")

    def test_list_arguments_are_checked(self) -> None:
        with Client("127.0.0.1:1") as client:
            with self.assertRaisesRegex(ValueError, "unknown status 'DONE'"):
                client.list(status="DONE")
            with self.assertRaisesRegex(ValueError, "limit"):
                client.list(limit=-1)
            with self.assertRaisesRegex(ValueError, "page_size"):
                client.list(page_size=1001)


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FakeStream:
    """A server stream: yields the items, raising the exceptions among them."""

    def __init__(self, items: list) -> None:
        self.items = items
        self.cancelled = False

    def __iter__(self):
        for item in self.items:
            if isinstance(item, Exception):
                raise item
            yield item

    def cancel(self) -> None:
        self.cancelled = True


def event(status: int, *iterations: int, message: str = "") -> experiment_pb2.WatchEvent:
    return experiment_pb2.WatchEvent(
        experiment=experiment_pb2.Experiment(id="exp-000007", status=status, message=message),
        records=[training_pb2.IterationRecord(iteration=i) for i in iterations],
    )


class WatchTest(unittest.TestCase):
    def watch(self, items: list) -> smfg_client.Watch:
        with Client("127.0.0.1:1") as client:
            client._stub.Watch = lambda request, **kwargs: FakeStream(items)
            return client.watch("exp-000007")

    def test_yields_records_and_keeps_the_latest_experiment(self) -> None:
        w = self.watch([event(experiment_pb2.RUNNING, 1, 2), event(experiment_pb2.RUNNING),
                        event(experiment_pb2.SUCCEEDED, 3)])
        self.assertIsNone(w.experiment)
        self.assertEqual([r.iteration for r in w], [1, 2, 3])
        self.assertEqual(w.experiment.status, experiment_pb2.SUCCEEDED)
        self.assertEqual(w.last_iteration, 3)

    def test_failed_and_cancelled_raise_experiment_failed(self) -> None:
        for status in (experiment_pb2.FAILED, experiment_pb2.CANCELLED):
            with self.subTest(status=status):
                w = self.watch([event(experiment_pb2.RUNNING, 1), event(status, message="why")])
                seen = []
                with self.assertRaises(ExperimentFailed) as raised:
                    for r in w:
                        seen.append(r.iteration)
                self.assertEqual(seen, [1])
                self.assertEqual(raised.exception.status, status)
                self.assertEqual(raised.exception.message, "why")
                self.assertIn("exp-000007 ended", str(raised.exception))

    def test_grpc_errors_and_early_ends_are_smfg_errors(self) -> None:
        cases = {
            "error": ([event(experiment_pb2.RUNNING, 1), FakeRpcError(grpc.StatusCode.UNAVAILABLE, "stopping")],
                      grpc.StatusCode.UNAVAILABLE, "stopping"),
            "early end": ([event(experiment_pb2.RUNNING, 1)], grpc.StatusCode.UNAVAILABLE, "watch again"),
            "not found": ([FakeRpcError(grpc.StatusCode.NOT_FOUND, "no exp-000007")],
                          grpc.StatusCode.NOT_FOUND, "no exp-000007"),
        }
        for name, (items, code, message) in cases.items():
            with self.subTest(case=name):
                w = self.watch(items)
                with self.assertRaises(SmfgError) as raised:
                    list(w)
                self.assertEqual(raised.exception.code, code)
                self.assertIn(message, raised.exception.message)
                self.assertNotIsInstance(raised.exception, grpc.RpcError)


class ResultsTest(unittest.TestCase):
    def test_a_bad_stream_writes_nothing(self) -> None:
        stream = FakeStream([chunk("good.json", 2, 0, b"{}"), chunk("../evil", 1, 0, b"x")])
        with tempfile.TemporaryDirectory() as d, Client("127.0.0.1:1") as client:
            client._stub.GetResults = lambda request, **kwargs: stream
            with self.assertRaisesRegex(SmfgError, "results of exp-1: file name '../evil'"):
                client.results("exp-1", os.path.join(d, "out"))
            self.assertEqual(os.listdir(d), [])
            self.assertTrue(stream.cancelled)

    def test_writes_files_under_out_dir(self) -> None:
        stream = FakeStream([chunk("a.json", 2, 0, b"{}"), chunk("plots/b.svg", 3, 0, b"svg")])
        with tempfile.TemporaryDirectory() as d, Client("127.0.0.1:1") as client:
            client._stub.GetResults = lambda request, **kwargs: stream
            written = client.results("exp-1", d)
            self.assertEqual(written, [os.path.join(d, "a.json"), os.path.join(d, "plots", "b.svg")])
            with open(written[1], "rb") as f:
                self.assertEqual(f.read(), b"svg")

    def test_grpc_error_is_an_smfg_error(self) -> None:
        stream = FakeStream([FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "exp-1 is RUNNING")])
        with tempfile.TemporaryDirectory() as d, Client("127.0.0.1:1") as client:
            client._stub.GetResults = lambda request, **kwargs: stream
            with self.assertRaises(SmfgError) as raised:
                client.results("exp-1", d)
            self.assertEqual(raised.exception.code, grpc.StatusCode.FAILED_PRECONDITION)


class HealthDecodingTest(unittest.TestCase):
    def test_serving_status(self) -> None:
        self.assertEqual(smfg_client._serving_status(b""), "UNKNOWN")
        self.assertEqual(smfg_client._serving_status(b"\x08\x01"), "SERVING")
        self.assertEqual(smfg_client._serving_status(b"\x08\x02"), "NOT_SERVING")
        self.assertEqual(smfg_client._serving_status(b"\x12\x01x\x08\x07"), "STATUS_7")  # other field skipped
        for bad in (b"\x08", b"\x12\x05ab", b"\x0b"):
            with self.subTest(data=bad):
                with self.assertRaises(SmfgError):
                    smfg_client._serving_status(bad)


class AtomicWriteTest(unittest.TestCase):
    def test_replaces_whole_file_and_leaves_no_temporary(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.json")
            smfg_client._write_atomically(path, b"old")
            smfg_client._write_atomically(path, b"new content")
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"new content")
            self.assertEqual(os.listdir(d), ["f.json"])


class GeneratedModulesTest(unittest.TestCase):
    def test_typed_messages_are_importable(self) -> None:
        record = training_pb2.IterationRecord(iteration=3)
        record.evaluated.objective = -0.5
        self.assertEqual(training_pb2.IterationRecord.FromString(record.SerializeToString()), record)
        self.assertIn("network", spec_pb2.Scenario.DESCRIPTOR.fields_by_name)
        self.assertEqual(experiment_pb2.ExperimentState.Name(experiment_pb2.CANCELLED), "CANCELLED")


if __name__ == "__main__":
    unittest.main()
