"""smfg_client against real smfg-coordinator and smfg-worker processes.

* TrainingTest: a coordinator with two workers trains three_bus_small cut to 2
  days and 2 outer iterations; the watched records, and the downloaded
  comparison.json and learned_tariff.json, equal those of a local
  `smfg train` of the same spec, byte for byte.
* WorkerlessCoordinatorTest: a token-protected coordinator without workers, so
  that experiments stay WAITING_FOR_WORKERS or QUEUED: tokens, cancel, delete,
  paged list, idempotency keys, server-side validation, `smfg spec`.
* TlsTest: a coordinator serving TLS with a self-signed certificate.

The binaries come from the environment (tests/cluster.py); a missing one fails.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import unittest
import uuid
from typing import List

import grpc
from google.protobuf import json_format, text_format

from smfg.v1 import experiment_pb2, spec_pb2, training_pb2
from smfg_client import Client, ExperimentFailed, SmfgError, load_spec

import cluster

SMALL_SPEC = os.path.join(cluster.SOURCE_DIR, "configs", "three_bus_small.textproto")
TOKEN = "python-client-test-token"


def small_spec(days: int, iterations: int, name: str = "") -> spec_pb2.ExperimentSpec:
    spec = load_spec(SMALL_SPEC)
    spec.scenario.days = days
    spec.loop.max_iterations = iterations
    # One rollout of the (shortened) day pool per update, and a short
    # reference search: the tests are about the service, not the optimum.
    spec.learner.ClearField("rollout_days_per_update")
    spec.reference.max_evaluations = 6
    if name:
        spec.name = name
    return spec


def without_wall_time(record: training_pb2.IterationRecord) -> training_pb2.IterationRecord:
    """The record less `seconds` and `bytes`, the figures two runs may differ in."""
    copy = training_pb2.IterationRecord()
    copy.CopyFrom(record)
    copy.ClearField("seconds")
    copy.ClearField("bytes")
    return copy


class TrainingTest(unittest.TestCase):
    """Submit, watch, results against a coordinator and two workers; compared with `smfg train`."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="smfg-py-e2e-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        env = cluster.environment_without("SMFG_API_TOKEN", "SMFG_CLUSTER_TOKEN")
        coordinator, cls.address = cluster.start_coordinator(
            os.path.join(cls.dir, "data"), os.path.join(cls.dir, "coordinator.log"), env=env
        )
        cls.addClassCleanup(coordinator.stop)
        for i in (1, 2):
            worker = cluster.start_worker(cls.address, os.path.join(cls.dir, f"worker{i}.log"), env=env)
            cls.addClassCleanup(worker.stop)
        cls.client = Client(cls.address, token="", timeout=60)
        cls.addClassCleanup(cls.client.close)

    def test_train_watch_results_equal_local_training(self) -> None:
        spec = small_spec(days=2, iterations=2)
        spec_path = os.path.join(self.dir, "two_days.textproto")
        with open(spec_path, "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(spec))
        local_out = os.path.join(self.dir, "local")
        # The local run goes on while the service trains (both are deterministic).
        local = cluster.Process(
            [cluster.binary("SMFG_CLIENT_BIN"), "train", spec_path, f"--out={local_out}"],
            os.path.join(self.dir, "local_train.log"),
        )
        self.addCleanup(local.stop)

        exp_id = self.client.submit(spec)
        self.assertRegex(exp_id, r"^exp-\d{6}$")
        watch = self.client.watch(exp_id, timeout=600)
        records: List[training_pb2.IterationRecord] = list(watch)
        self.assertEqual(watch.experiment.status, experiment_pb2.SUCCEEDED, watch.experiment)
        self.assertEqual(watch.experiment.id, exp_id)
        self.assertEqual([r.iteration for r in records], [1, 2])
        self.assertEqual(watch.last_iteration, 2)
        for r in records:
            self.assertIsInstance(r, training_pb2.IterationRecord)
            self.assertTrue(math.isfinite(r.evaluated.objective), r)
            self.assertEqual(len(r.evaluated.eei), 4)  # the four income groups
            self.assertEqual(len(r.lmp_by_bus), 3)
        got = self.client.get(exp_id)
        self.assertEqual((got.status, got.outer_iteration), (experiment_pb2.SUCCEEDED, 2))

        # Watching again after iteration 1 replays only the rest.
        again = self.client.watch(exp_id, after_iteration=1, timeout=60)
        self.assertEqual([r.iteration for r in again], [2])

        out = os.path.join(self.dir, "remote")
        written = self.client.results(exp_id, out)
        names = sorted(os.path.relpath(p, out) for p in written)
        for name in ("comparison.json", "learned_tariff.json", "metrics.jsonl", "plots/convergence.svg"):
            self.assertIn(name, names)

        self.assertEqual(local.popen.wait(timeout=600), 0, local.log_tail())
        for name in ("comparison.json", "learned_tariff.json"):
            with self.subTest(file=name):
                with open(os.path.join(out, name), "rb") as remote_file:
                    remote_bytes = remote_file.read()
                with open(os.path.join(local_out, name), "rb") as local_file:
                    self.assertEqual(remote_bytes, local_file.read())
        # The same files as `smfg train` writes, but for its checkpoints.
        local_names = sorted(
            os.path.relpath(os.path.join(d, f), local_out)
            for d, _, files in os.walk(local_out)
            for f in files
            if not os.path.relpath(d, local_out).startswith("checkpoints")
        )
        self.assertEqual(names, local_names)
        # The typed records equal the local metrics.jsonl but for wall time.
        with open(os.path.join(local_out, "metrics.jsonl"), encoding="utf-8") as f:
            local_records = [json_format.Parse(line, training_pb2.IterationRecord()) for line in f]
        self.assertEqual([without_wall_time(r) for r in records], [without_wall_time(r) for r in local_records])
        with open(os.path.join(out, "comparison.json"), encoding="utf-8") as f:
            self.assertIsInstance(json.load(f), dict)

        # A finished experiment can be deleted; then it is gone.
        self.client.delete(exp_id)
        with self.assertRaises(SmfgError) as raised:
            self.client.get(exp_id)
        self.assertEqual(raised.exception.code, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(SmfgError) as raised:
            self.client.results(exp_id, os.path.join(self.dir, "gone"))
        self.assertEqual(raised.exception.code, grpc.StatusCode.NOT_FOUND)


class WorkerlessCoordinatorTest(unittest.TestCase):
    """A token-protected coordinator with no worker: experiments wait, nothing trains."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="smfg-py-token-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, ignore_errors=True)
        env = cluster.environment_without("SMFG_API_TOKEN", "SMFG_CLUSTER_TOKEN")
        env["SMFG_API_TOKEN"] = TOKEN
        coordinator, cls.address = cluster.start_coordinator(
            os.path.join(cls.dir, "data"), os.path.join(cls.dir, "coordinator.log"), env=env
        )
        cls.addClassCleanup(coordinator.stop)
        cls.client = Client(cls.address, token=TOKEN, timeout=30)
        cls.addClassCleanup(cls.client.close)

    def submit(self, name: str) -> str:
        """A cheap experiment (it never runs here: no worker); cancelled after the test."""
        exp_id = self.client.submit(small_spec(days=1, iterations=1, name=name))
        self.addCleanup(self.cancel_quietly, exp_id)
        return exp_id

    def cancel_quietly(self, exp_id: str) -> None:
        try:
            self.client.cancel(exp_id)
        except SmfgError as e:
            if e.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                raise

    def status(self, exp_id: str) -> str:
        return experiment_pb2.ExperimentState.Name(self.client.get(exp_id).status)

    def test_token_is_required(self) -> None:
        for token in ("", "wrong-token"):
            with self.subTest(token=token):
                with Client(self.address, token=token) as client:
                    for call in (lambda: client.list(), lambda: client.get("exp-000001"),
                                 lambda: client.submit(small_spec(1, 1)), lambda: list(client.watch("exp-000001"))):
                        with self.assertRaises(SmfgError) as raised:
                            call()
                        self.assertEqual(raised.exception.code, grpc.StatusCode.UNAUTHENTICATED)
                        self.assertIn("bearer token", raised.exception.message)
        self.assertIsInstance(self.client.list(), list)
        with Client(self.address, token="") as client:
            self.assertEqual(client.health(), "SERVING")  # health checking is open
        with self.assertRaises(SmfgError) as raised:
            self.client.get("exp-999999")
        self.assertEqual(raised.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_cancel_queued_and_waiting_then_delete(self) -> None:
        first = self.submit("holds_the_slot")
        cluster.wait_for(f"{first} WAITING_FOR_WORKERS", lambda: self.status(first) == "WAITING_FOR_WORKERS", 60)
        queued = self.submit("queued_behind")
        self.assertEqual(self.status(queued), "QUEUED")  # --max_concurrent=1 and the slot is taken

        cancelled = self.client.cancel(queued)
        self.assertEqual(cancelled.status, experiment_pb2.CANCELLED)
        self.assertEqual(self.status(queued), "CANCELLED")
        with self.assertRaises(ExperimentFailed) as raised:
            list(self.client.watch(queued, timeout=30))
        self.assertEqual(raised.exception.status, experiment_pb2.CANCELLED)
        self.assertEqual(raised.exception.status_name, "CANCELLED")

        # Not finished: cannot be deleted. A waiting one is cancelled at once.
        with self.assertRaises(SmfgError) as raised:
            self.client.delete(first)
        self.assertEqual(raised.exception.code, grpc.StatusCode.FAILED_PRECONDITION)
        self.client.cancel(first)
        cluster.wait_for(f"{first} CANCELLED", lambda: self.status(first) == "CANCELLED", 30)

        for exp_id in (first, queued):
            self.client.delete(exp_id)
            with self.assertRaises(SmfgError) as raised:
                self.client.get(exp_id)
            self.assertEqual(raised.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_list_follows_pages(self) -> None:
        ids = [self.submit(f"page_{i}") for i in range(5)]
        requests: List[experiment_pb2.ListExperimentsRequest] = []
        real_list = self.client._stub.List

        def counting_list(request, **kwargs):
            copy = experiment_pb2.ListExperimentsRequest()
            copy.CopyFrom(request)
            requests.append(copy)
            return real_list(request, **kwargs)

        self.client._stub.List = counting_list
        self.addCleanup(setattr, self.client._stub, "List", real_list)

        listed = [e.id for e in self.client.list(page_size=2)]
        # Newest first; earlier tests' experiments follow (ids only grow).
        self.assertEqual(listed[:5], ids[::-1])
        # Page after page of two, each request quoting the previous page's token.
        self.assertGreaterEqual(len(requests), math.ceil(len(listed) / 2))
        self.assertGreaterEqual(len(requests), 3)
        self.assertTrue(all(r.page_size == 2 for r in requests))
        self.assertEqual(requests[0].page_token, "")
        self.assertTrue(all(r.page_token for r in requests[1:]))
        self.assertEqual(len(set(listed)), len(listed))

        requests.clear()
        self.assertEqual([e.id for e in self.client.list(limit=3, page_size=2)], ids[:-4:-1])
        self.assertEqual([r.page_size for r in requests], [2, 1])
        requests.clear()
        self.assertEqual([e.id for e in self.client.list(limit=4)], ids[:-5:-1])
        self.assertEqual([r.page_size for r in requests], [4])

        queued = self.client.list(status="QUEUED")
        self.assertTrue(queued)
        self.assertTrue(all(e.status == experiment_pb2.QUEUED for e in queued))
        self.assertEqual(self.client.list(status=experiment_pb2.SUCCEEDED), [])

    def test_idempotency_key(self) -> None:
        spec = small_spec(days=1, iterations=1, name="idempotent")
        key = f"key-{uuid.uuid4()}"
        exp_id = self.client.submit(spec, key=key)
        self.addCleanup(self.cancel_quietly, exp_id)
        self.assertEqual(self.client.submit(spec, key=key), exp_id)
        spec.loop.max_iterations = 2
        with self.assertRaises(SmfgError) as raised:
            self.client.submit(spec, key=key)
        self.assertEqual(raised.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        self.assertNotEqual(self.submit("fresh_key"), exp_id)  # a fresh key by default

    def test_invalid_argument_names_the_field(self) -> None:
        spec = small_spec(days=1, iterations=1)
        spec.scenario.days = 0
        with self.assertRaises(SmfgError) as raised:
            self.client.submit(spec)
        self.assertEqual(raised.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertTrue(raised.exception.message.startswith("spec.scenario.days: "), raised.exception.message)
        self.assertIsInstance(raised.exception, RuntimeError)

    def test_effective_spec_of_a_matpower_spec_can_be_submitted(self) -> None:
        spec = small_spec(days=1, iterations=1, name="from_matpower")
        spec.scenario.matpower_file = os.path.join(cluster.SOURCE_DIR, "environment", "testdata", "case3_triangle.m")
        path = os.path.join(self.dir, "matpower.textproto")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text_format.MessageToString(spec))
        with self.assertRaisesRegex(ValueError, "smfg spec FILE"):
            self.client.submit(path)
        # What the error suggests: the C++ tool prints the self-contained spec.
        effective = cluster.run_client(["spec", path], timeout=60).stdout
        effective_path = os.path.join(self.dir, "effective.textproto")
        with open(effective_path, "w", encoding="utf-8") as f:
            f.write(effective)
        self.assertEqual(load_spec(effective_path).scenario.WhichOneof("network_source"), "network")
        exp_id = self.client.submit(effective_path)
        self.addCleanup(self.cancel_quietly, exp_id)
        self.assertEqual(self.client.get(exp_id).name, "from_matpower")


class TlsTest(unittest.TestCase):
    """The tls_ca option: PEM file or bytes; a plaintext client gets no answer."""

    def test_tls(self) -> None:
        d = tempfile.mkdtemp(prefix="smfg-py-tls-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", cert],
            check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        env = cluster.environment_without("SMFG_API_TOKEN", "SMFG_CLUSTER_TOKEN")
        coordinator, address = cluster.start_coordinator(
            os.path.join(d, "data"), os.path.join(d, "coordinator.log"),
            [f"--tls_cert={cert}", f"--tls_key={key}"], env=env,
        )
        self.addCleanup(coordinator.stop)
        with open(cert, "rb") as f:
            pem = f.read()
        for ca in (cert, pem):
            with self.subTest(tls_ca=type(ca).__name__):
                with Client(address, token="", tls_ca=ca, timeout=30) as client:
                    self.assertEqual(client.list(), [])
        with Client(address, token="", timeout=10) as plaintext:
            with self.assertRaises(SmfgError) as raised:
                plaintext.list()
            self.assertEqual(raised.exception.code, grpc.StatusCode.UNAVAILABLE)


if __name__ == "__main__":
    unittest.main()
