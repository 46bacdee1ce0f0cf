"""Builds smfg-client: generates the smfg.v1 gRPC/protobuf stubs at build time.

The stubs are never checked in. `build_py` runs grpc_tools.protoc on every
``proto/smfg/v1/*.proto`` of the checkout (found relative to this file, i.e.
``../proto``; ``$SMFG_PROTO_DIR`` overrides it) and writes ``smfg/v1/*_pb2.py``,
``*_pb2.pyi`` and ``*_pb2_grpc.py`` into the build directory, next to
``smfg_client.py``. The installed distribution requires grpcio and protobuf at
least at the versions the stubs were generated with, because generated code
refuses older runtimes.
"""

import glob
import os
import shutil
import sys
from importlib import metadata

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def proto_root() -> str:
    """The directory that holds smfg/v1/*.proto (the -I root), or exits with why."""
    root = os.environ.get("SMFG_PROTO_DIR") or os.path.join(HERE, os.pardir, "proto")
    root = os.path.normpath(root)
    if not glob.glob(os.path.join(root, "smfg", "v1", "*.proto")):
        sys.exit(
            f"smfg-client: no .proto files in {os.path.join(root, 'smfg', 'v1')}.\n"
            "The client's stubs are generated from the smfg checkout's proto/ directory, "
            "so install it from a checkout (pip install ./python from the repository root), "
            "or point $SMFG_PROTO_DIR at a copy of proto/."
        )
    return root


def generate_stubs(out_dir: str) -> None:
    """Runs grpc_tools.protoc on proto/smfg/v1/*.proto, writing the package smfg.v1 to out_dir."""
    try:
        import grpc_tools
        from grpc_tools import protoc
    except ImportError:
        sys.exit("smfg-client: grpcio-tools is needed to build (pip installs it from pyproject.toml)")
    root = proto_root()
    protos = sorted(
        os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "smfg", "v1", "*.proto"))
    )
    # google/protobuf/*.proto (well-known types) ship with grpc_tools.
    well_known = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    shutil.rmtree(os.path.join(out_dir, "smfg"), ignore_errors=True)  # no stubs of removed protos
    os.makedirs(out_dir, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    print("smfg-client: " + " ".join(args), flush=True)
    if protoc.main(args) != 0:
        sys.exit(f"smfg-client: protoc failed on {', '.join(protos)} (see its message above)")
    for package in ("smfg", os.path.join("smfg", "v1")):
        init = os.path.join(out_dir, package, "__init__.py")
        with open(init, "w", encoding="utf-8") as f:
            f.write('"""Generated from proto/smfg/v1 by smfg-client\'s setup.py."""\n')
    open(os.path.join(out_dir, "smfg", "py.typed"), "w").close()


class BuildPyWithStubs(build_py):
    """build_py that also generates the smfg.v1 stubs into the build directory."""

    def run(self) -> None:
        generate_stubs(self.build_lib)
        super().run()


def runtime_requirements() -> list:
    """grpcio and protobuf at least at the versions of this build environment."""
    try:
        grpc_version = metadata.version("grpcio-tools")
        protobuf_version = metadata.version("protobuf")
    except metadata.PackageNotFoundError:
        return ["grpcio", "protobuf"]  # metadata queries outside a build (setup.py --name)
    protobuf_major = int(protobuf_version.split(".")[0])
    return [f"grpcio>={grpc_version}", f"protobuf>={protobuf_version},<{protobuf_major + 1}"]


setup(
    cmdclass={"build_py": BuildPyWithStubs},
    install_requires=runtime_requirements(),
)
