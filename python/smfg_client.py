"""Python client of the smfg coordinator's ExperimentService (docs/API.md).

It mirrors the ``smfg`` command-line tool's remote commands::

    from smfg_client import Client

    client = Client("127.0.0.1:7070")            # or $SMFG_COORDINATOR
    exp_id = client.submit("configs/three_bus_small.textproto")
    for record in client.watch(exp_id):          # smfg.v1.IterationRecord
        print(record.iteration, record.evaluated.objective)
    client.results(exp_id, "out/run")

The messages are the generated ``smfg.v1`` modules (``experiment_pb2``,
``spec_pb2``, ``training_pb2``), built from the checkout's ``proto/`` when the
package is installed. Every gRPC error is raised as :class:`SmfgError`
carrying the gRPC status code and message; a watched experiment that ends
FAILED or CANCELLED raises :class:`ExperimentFailed`.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import grpc
from google.protobuf import json_format, text_format

from smfg.v1 import experiment_pb2, experiment_pb2_grpc, spec_pb2, training_pb2

__all__ = [
    "Client",
    "ExperimentFailed",
    "SmfgError",
    "Watch",
    "load_spec",
    "validate_relative_path",
]

#: Text-format spec file suffixes (as the C++ loader, config/spec_loader.h).
TEXT_SUFFIXES = (".textproto", ".txtpb", ".pbtxt")
#: The largest spec file read (as smfg::kMaxSpecFileBytes).
MAX_SPEC_FILE_BYTES = 16 << 20
#: The largest result file accepted (as smfg::kMaxCheckpointFileBytes).
MAX_RESULT_FILE_BYTES = 2 << 30

#: Statuses after which an experiment never changes again.
TERMINAL_STATES = (
    experiment_pb2.SUCCEEDED,
    experiment_pb2.FAILED,
    experiment_pb2.CANCELLED,
)

PathLike = Union[str, "os.PathLike[str]"]


class SmfgError(RuntimeError):
    """A failed call: the gRPC status code and the coordinator's one-line message.

    Attributes:
        code (grpc.StatusCode): e.g. ``grpc.StatusCode.NOT_FOUND``.
        message (str): e.g. ``"spec.scenario.days: must be in [1, 36500], got 0"``.
    """

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


class ExperimentFailed(RuntimeError):
    """A watched experiment ended FAILED or CANCELLED.

    Attributes:
        experiment (experiment_pb2.Experiment): its last state.
        status (int): ``experiment_pb2.FAILED`` or ``experiment_pb2.CANCELLED``.
        status_name (str): ``"FAILED"`` or ``"CANCELLED"``.
        message (str): why (the experiment's ``message``).
    """

    def __init__(self, experiment: experiment_pb2.Experiment) -> None:
        self.experiment = experiment
        self.status = experiment.status
        self.status_name = experiment_pb2.ExperimentState.Name(experiment.status)
        self.message = experiment.message
        super().__init__(f"{experiment.id} ended {self.status_name}: {experiment.message}")


def _error(e: grpc.RpcError) -> SmfgError:
    code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
    details = e.details() if hasattr(e, "details") else str(e)
    return SmfgError(code or grpc.StatusCode.UNKNOWN, details or "")


_PATH_CHARS = re.compile(r"[A-Za-z0-9._/-]*")


def validate_relative_path(path: str) -> None:
    """Checks a result file's name exactly like C++ ``smfg::ValidateRelativePath``.

    1-500 characters of ``[A-Za-z0-9._-/]``, relative, ``/``-separated
    components that are not empty and do not start with ``.`` (so neither
    ``.``, ``..`` nor hidden names): joined to a directory, it stays inside.

    Args:
        path (str): the name, e.g. ``"plots/tariff.svg"``.

    Raises:
        ValueError: naming the path and the problem.
    """

    def bad(why: str) -> ValueError:
        shown = path[:100] + ("..." if len(path) > 100 else "")
        return ValueError(f"file name '{shown}': {why}")

    if not isinstance(path, str):
        raise ValueError(f"file name {path!r}: not a string")
    if not 1 <= len(path) <= 500:
        raise bad("must have 1 to 500 characters")
    if not _PATH_CHARS.fullmatch(path):
        raise bad("only letters, digits and . _ - / are allowed")
    if path.startswith("/"):
        raise bad("must be relative")
    for part in path.split("/"):
        if not part:
            raise bad("has an empty path component")
        if part.startswith("."):
            raise bad("a path component must not start with '.'")


def load_spec(path: PathLike) -> spec_pb2.ExperimentSpec:
    """Reads an experiment spec file: text format or JSON, by suffix.

    ``.textproto``, ``.txtpb`` and ``.pbtxt`` are protobuf text format,
    ``.json`` the proto3 JSON mapping. Unknown fields are errors. Only the
    syntax is checked here; the coordinator validates the values (its
    ``INVALID_ARGUMENT`` names the field, e.g. ``spec.scenario.days``).

    Args:
        path (str | os.PathLike): the spec file.

    Returns:
        spec_pb2.ExperimentSpec: the parsed spec, as written (defaults absent).

    Raises:
        ValueError: unknown suffix, unreadable or too large file, parse error
            (with the file's name and, for text format, line and column).
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in TEXT_SUFFIXES + (".json",):
        raise ValueError(
            f"{name}: unknown spec format '{suffix}' (expected .textproto, .txtpb, .pbtxt or .json)"
        )
    try:
        with open(name, "rb") as f:
            data = f.read(MAX_SPEC_FILE_BYTES + 1)
    except OSError as e:
        raise ValueError(f"{name}: {e.strerror or e}") from e
    if len(data) > MAX_SPEC_FILE_BYTES:
        raise ValueError(f"{name}: larger than {MAX_SPEC_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{name}: not UTF-8 text ({e})") from e
    spec = spec_pb2.ExperimentSpec()
    try:
        if suffix == ".json":
            json_format.Parse(text, spec)  # unknown fields are errors by default
        else:
            text_format.Parse(text, spec)
    except (text_format.ParseError, json_format.ParseError) as e:
        raise ValueError(f"{name}: {e}") from e
    return spec


def _check_submittable(spec: spec_pb2.ExperimentSpec, origin: str) -> None:
    if spec.scenario.WhichOneof("network_source") == "matpower_file":
        raise ValueError(
            f"{origin}: scenario.matpower_file ('{spec.scenario.matpower_file}') cannot be "
            "submitted: the coordinator never opens a file a client names. Inline the network "
            "(scenario.network), e.g. with the effective spec that the C++ tool prints: "
            "`smfg spec FILE > effective.textproto`, then submit effective.textproto."
        )


def _assemble_results(
    exp_id: str, chunks: Iterable[experiment_pb2.ResultChunk]
) -> List[Tuple[str, bytes]]:
    """GetResults' chunks as whole files, checked like the C++ client's DownloadResults.

    Every path passes :func:`validate_relative_path` and occurs once; a file's
    chunks come in order at offsets 0, len(data), ...; every file ends at its
    announced size.

    Returns:
        list[tuple[str, bytes]]: (path, content) in stream order.

    Raises:
        SmfgError: ``DATA_LOSS`` naming the file and the problem.
    """

    def bad(why: str) -> SmfgError:
        return SmfgError(grpc.StatusCode.DATA_LOSS, f"results of {exp_id}: {why}")

    files: List[Tuple[str, bytearray]] = []
    sizes: List[int] = []
    seen = set()
    for chunk in chunks:
        if chunk.offset == 0:
            if files and len(files[-1][1]) != sizes[-1]:
                raise bad(f"{files[-1][0]} ended early")
            try:
                validate_relative_path(chunk.path)
            except ValueError as e:
                raise bad(str(e)) from e
            if chunk.path in seen:
                raise bad(f"{chunk.path} sent twice")
            if not 0 <= chunk.size <= MAX_RESULT_FILE_BYTES:
                raise bad(f"{chunk.path}: size {chunk.size}")
            seen.add(chunk.path)
            files.append((chunk.path, bytearray()))
            sizes.append(chunk.size)
        elif not files or chunk.path != files[-1][0] or chunk.offset != len(files[-1][1]):
            raise bad(f"chunk of {chunk.path} at offset {chunk.offset} out of order")
        if len(files[-1][1]) + len(chunk.data) > sizes[-1]:
            raise bad(f"{chunk.path} is longer than announced")
        files[-1][1].extend(chunk.data)
    if files and len(files[-1][1]) != sizes[-1]:
        raise bad(f"{files[-1][0]} ended early")
    return [(path, bytes(data)) for path, data in files]


def _write_atomically(path: str, data: bytes) -> None:
    """Writes path so that readers see the old content or the new, never a mix."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


_SERVING_STATUS_NAMES = ("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")


def _serving_status(data: bytes) -> str:
    """The status (field 1, a varint) of a serialized grpc.health.v1.HealthCheckResponse.

    Decoded by hand, as the C++ tool does, so that no health-checking package is needed.
    """
    status, pos = 0, 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire_type = key & 7
        if wire_type == 0:
            value, pos = _varint(data, pos)
            if key >> 3 == 1:
                status = value
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            pos += length
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            raise SmfgError(grpc.StatusCode.DATA_LOSS, "unreadable HealthCheckResponse")
    if pos != len(data):
        raise SmfgError(grpc.StatusCode.DATA_LOSS, "unreadable HealthCheckResponse")
    return _SERVING_STATUS_NAMES[status] if status < 4 else f"STATUS_{status}"


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise SmfgError(grpc.StatusCode.DATA_LOSS, "unreadable HealthCheckResponse")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


class Watch:
    """The iterator :meth:`Client.watch` returns: typed iteration records.

    Iterating yields every ``training_pb2.IterationRecord`` with
    ``iteration > after_iteration``, then new ones as the run stores them, and
    stops when the experiment reaches a terminal status: normally after
    SUCCEEDED, by raising :class:`ExperimentFailed` after FAILED or CANCELLED.

    Attributes:
        experiment (experiment_pb2.Experiment | None): the experiment as of the
            latest event (status, message, outer_iteration); None before the
            first event.
        last_iteration (int): the iteration of the latest record yielded
            (``after_iteration`` before any): watch again from it after an
            ``UNAVAILABLE`` error.
    """

    def __init__(self, call: Iterator[experiment_pb2.WatchEvent], exp_id: str, after: int) -> None:
        self._call = call
        self._id = exp_id
        self._records = self._generate()
        self.experiment: Optional[experiment_pb2.Experiment] = None
        self.last_iteration = after

    def __iter__(self) -> "Watch":
        return self

    def __next__(self) -> training_pb2.IterationRecord:
        return next(self._records)

    def _generate(self) -> Iterator[training_pb2.IterationRecord]:
        try:
            for event in self._call:
                if event.HasField("experiment"):
                    self.experiment = event.experiment
                for record in event.records:
                    self.last_iteration = record.iteration
                    yield record
        except grpc.RpcError as e:
            raise _error(e) from None
        if self.experiment is None or self.experiment.status not in TERMINAL_STATES:
            raise SmfgError(
                grpc.StatusCode.UNAVAILABLE,
                f"watch of {self._id} ended before the experiment finished; watch again",
            )
        if self.experiment.status != experiment_pb2.SUCCEEDED:
            raise ExperimentFailed(self.experiment)

    def cancel(self) -> None:
        """Stops the stream (a later next() raises SmfgError CANCELLED)."""
        self._call.cancel()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class Client:
    """A connection to an smfg-coordinator's ExperimentService.

    Args:
        address (str | None): ``HOST:PORT``; None: ``$SMFG_COORDINATOR``.
        token (str | None): API token, sent as ``authorization: Bearer <token>``
            with every call; None: ``$SMFG_API_TOKEN`` if set, else no token.
        tls_ca (str | os.PathLike | bytes | None): PEM root certificate(s), as a
            file path or the PEM bytes: connect with TLS trusting them; None:
            plaintext.
        timeout (float): deadline of each call in seconds (``results`` included;
            ``watch`` has its own).

    Raises:
        ValueError: no address, or an unreadable ``tls_ca`` file.

    The client is a context manager; ``close()`` closes the channel.
    """

    def __init__(
        self,
        address: Optional[str] = None,
        *,
        token: Optional[str] = None,
        tls_ca: Union[PathLike, bytes, None] = None,
        timeout: float = 30.0,
    ) -> None:
        address = address or os.environ.get("SMFG_COORDINATOR", "")
        if not address:
            raise ValueError("no coordinator address: pass one or set $SMFG_COORDINATOR")
        if token is None:
            token = os.environ.get("SMFG_API_TOKEN", "").strip() or None
        self.address = address
        self.timeout = timeout
        self._metadata: Sequence[Tuple[str, str]] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        if tls_ca is None:
            self._channel = grpc.insecure_channel(address)
        else:
            if isinstance(tls_ca, bytes):
                pem = tls_ca
            else:
                try:
                    with open(os.fspath(tls_ca), "rb") as f:
                        pem = f.read(1 << 20)
                except OSError as e:
                    raise ValueError(f"tls_ca {os.fspath(tls_ca)}: {e.strerror or e}") from e
            self._channel = grpc.secure_channel(
                address, grpc.ssl_channel_credentials(root_certificates=pem)
            )
        self._stub = experiment_pb2_grpc.ExperimentServiceStub(self._channel)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: Callable, request: object, timeout: Optional[float] = None):
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as e:
            raise _error(e) from None

    def health(self) -> str:
        """The coordinator's gRPC health status (``grpc.health.v1.Health/Check``).

        Returns:
            str: ``"SERVING"``, ``"NOT_SERVING"``, ``"UNKNOWN"``, ... Health
            checking needs no token.

        Raises:
            SmfgError: e.g. ``UNAVAILABLE`` when nothing answers.
        """
        check = self._channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=lambda _: b"",  # an empty HealthCheckRequest: the whole server
            response_deserializer=_serving_status,
        )
        return self._call(check, None)

    def submit(self, spec: Union[spec_pb2.ExperimentSpec, PathLike], key: Optional[str] = None) -> str:
        """Submits an experiment; returns its id (``"exp-000001"``).

        Args:
            spec (spec_pb2.ExperimentSpec | str | os.PathLike): the spec message,
                or a spec file (see :func:`load_spec`). It must carry its
                network inline (``scenario.network``).
            key (str | None): idempotency key; None: a fresh one (uuid4).
                Submitting the same spec with the same key again returns the
                first experiment's id.

        Raises:
            ValueError: an unreadable spec file, or one naming
                ``scenario.matpower_file`` (nothing is sent).
            SmfgError: e.g. ``INVALID_ARGUMENT`` naming the field
                (``spec.scenario.days: ...``), ``ALREADY_EXISTS`` for a key
                known with another spec.
        """
        if isinstance(spec, spec_pb2.ExperimentSpec):
            message, origin = spec, f"spec '{spec.name}'"
        else:
            message, origin = load_spec(spec), os.fspath(spec)
        _check_submittable(message, origin)
        request = experiment_pb2.SubmitRequest(
            spec=message, idempotency_key=key or f"py-{uuid.uuid4()}"
        )
        return self._call(self._stub.Submit, request).experiment_id

    def get(self, exp_id: str) -> experiment_pb2.Experiment:
        """The experiment's status. Raises SmfgError NOT_FOUND for an unknown id."""
        return self._call(self._stub.Get, experiment_pb2.GetExperimentRequest(id=exp_id))

    def list(
        self,
        status: Union[int, str, None] = None,
        limit: Optional[int] = None,
        *,
        page_size: Optional[int] = None,
    ) -> List[experiment_pb2.Experiment]:
        """Experiments, newest first, following ``next_page_token`` page after page.

        Args:
            status (int | str | None): only this ``ExperimentState`` (a value or
                its name, e.g. ``"RUNNING"``); None: all.
            limit (int | None): at most this many; None or 0: all.
            page_size (int | None): experiments per request (1..1000); None:
                the server's default (100), or ``limit`` when smaller.

        Returns:
            list[experiment_pb2.Experiment]
        """
        if isinstance(status, str):
            try:
                status = experiment_pb2.ExperimentState.Value(status)
            except ValueError as e:
                raise ValueError(f"unknown status '{status}'") from e
        if limit is not None and limit < 0:
            raise ValueError("limit: must be >= 0")
        if page_size is not None and not 1 <= page_size <= 1000:
            raise ValueError("page_size: must be in [1, 1000]")
        request = experiment_pb2.ListExperimentsRequest(status=status or 0)
        listed: List[experiment_pb2.Experiment] = []
        while True:
            size = page_size or 0
            if limit:
                size = min(size or 1000, limit - len(listed))
            request.page_size = size
            response = self._call(self._stub.List, request)
            listed.extend(response.experiments)
            request.page_token = response.next_page_token
            if not request.page_token or (limit and len(listed) >= limit):
                return listed[:limit] if limit else listed

    def cancel(self, exp_id: str) -> experiment_pb2.Experiment:
        """Cancels: a QUEUED or WAITING_FOR_WORKERS experiment at once, a RUNNING one
        at its next outer iteration (``cancel_requested``). Returns its new state.
        SmfgError FAILED_PRECONDITION for a SUCCEEDED or FAILED one."""
        return self._call(self._stub.Cancel, experiment_pb2.CancelRequest(id=exp_id))

    def delete(self, exp_id: str) -> None:
        """Removes a finished (SUCCEEDED, FAILED, CANCELLED) experiment with its results.
        SmfgError FAILED_PRECONDITION for one still queued or running."""
        self._call(self._stub.Delete, experiment_pb2.DeleteRequest(id=exp_id))

    def watch(
        self, exp_id: str, after_iteration: int = 0, *, timeout: Optional[float] = None
    ) -> Watch:
        """Follows an experiment: a :class:`Watch` iterator of ``IterationRecord``.

        Args:
            exp_id (str): the experiment.
            after_iteration (int): only records of later outer iterations
                (0: the whole history).
            timeout (float | None): deadline of the whole stream in seconds;
                None: none.

        The iterator's ``experiment`` attribute holds the latest
        ``Experiment``. Iteration raises :class:`ExperimentFailed` when the
        experiment ends FAILED or CANCELLED and :class:`SmfgError` for a gRPC
        error (``NOT_FOUND``, ``UNAVAILABLE``: watch again from
        ``last_iteration``).
        """
        request = experiment_pb2.WatchRequest(id=exp_id, after_iteration=after_iteration)
        call = self._stub.Watch(request, timeout=timeout, metadata=self._metadata)
        return Watch(call, exp_id, after_iteration)

    def results(self, exp_id: str, out_dir: PathLike) -> List[str]:
        """Downloads a SUCCEEDED experiment's result files into out_dir.

        The whole download is checked before anything is written: every path
        as :func:`validate_relative_path`, chunks contiguous, sizes as
        announced. Each file is then written atomically (a temporary file in
        its directory, renamed over the target).

        Args:
            exp_id (str): the experiment.
            out_dir (str | os.PathLike): created if missing.

        Returns:
            list[str]: the written files' paths (out_dir joined with each
            result's relative path), in the server's order.

        Raises:
            SmfgError: ``FAILED_PRECONDITION`` before the experiment
                SUCCEEDED, ``NOT_FOUND``, ``DATA_LOSS`` for a bad stream.
        """
        call = self._stub.GetResults(
            experiment_pb2.GetResultsRequest(id=exp_id),
            timeout=self.timeout,
            metadata=self._metadata,
        )
        try:
            files = _assemble_results(exp_id, call)
        except grpc.RpcError as e:
            raise _error(e) from None
        except SmfgError:
            call.cancel()
            raise
        root = os.fspath(out_dir)
        written: List[str] = []
        for rel, data in files:
            target = os.path.join(root, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            _write_atomically(target, data)
            written.append(target)
        return written
