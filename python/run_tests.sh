#!/usr/bin/env bash
# The Python client's tests (python/tests) against the built binaries.
#
#   python/run_tests.sh BUILD_DIR
#
# Creates (or reuses, when it was made by the same interpreter) a venv in
# BUILD_DIR/python-venv, installs the client from this checkout with pip (build
# isolation: grpcio-tools, grpcio and protobuf come from PyPI; the stubs are
# generated from proto/ during the install), then runs every test in
# python/tests with unittest. The binaries are $SMFG_COORDINATOR_BIN,
# $SMFG_WORKER_BIN and $SMFG_CLIENT_BIN (the ctest entry sets them), else those
# of BUILD_DIR. Any failure fails the script, an unreachable PyPI included:
# nothing here is ever skipped.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD_DIR=$(cd "$1" && pwd)
SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
VENV="$BUILD_DIR/python-venv"

run() {
  echo "+ $*"
  "$@"
}

# Debian's python3 (python3-venv, scripts/install_deps.sh), unless $PYTHON says otherwise.
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "run_tests.sh: $PYTHON cannot create a venv with pip (apt-get install python3-venv)" >&2
  exit 1
fi

# The venv is reused when the same interpreter (path and version) made it.
identity=$("$PYTHON" -c 'import sys; print(sys.executable, sys.version.replace("\n", " "))')
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.smfg-made-by" 2>/dev/null)" = "$identity" ]; then
  echo "run_tests.sh: reusing $VENV ($identity)"
else
  rm -rf "$VENV"
  run "$PYTHON" -m venv "$VENV"
  echo "$identity" >"$VENV/.smfg-made-by"
fi

# From the checkout, so the stubs are generated from this proto/ (pip builds
# python/ in place; setup.py finds ../proto).
run "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
  --upgrade "$SOURCE_DIR/python"

export SMFG_SOURCE_DIR="$SOURCE_DIR"
export SMFG_COORDINATOR_BIN=${SMFG_COORDINATOR_BIN:-$BUILD_DIR/coordinator/smfg-coordinator}
export SMFG_WORKER_BIN=${SMFG_WORKER_BIN:-$BUILD_DIR/follower_workers/smfg-worker}
export SMFG_CLIENT_BIN=${SMFG_CLIENT_BIN:-$BUILD_DIR/client/smfg}
echo "+ SMFG_COORDINATOR_BIN=$SMFG_COORDINATOR_BIN"
echo "+ SMFG_WORKER_BIN=$SMFG_WORKER_BIN"
echo "+ SMFG_CLIENT_BIN=$SMFG_CLIENT_BIN"

# Run from the build directory, so `import smfg_client` is the installed module,
# never python/smfg_client.py. No test found, or a skipped one, is a failure.
cd "$BUILD_DIR"
run "$VENV/bin/python" - "$SOURCE_DIR/python/tests" <<'EOF'
import sys
import time
import unittest

import smfg_client

tests_dir = sys.argv[1]
print(f"smfg_client from {smfg_client.__file__}", flush=True)
suite = unittest.defaultTestLoader.discover(tests_dir, top_level_dir=tests_dir)
if suite.countTestCases() == 0:
    sys.exit(f"run_tests.sh: no test found in {tests_dir}")


class TimedResult(unittest.TextTestResult):
    """Prints each test's wall time after its verdict."""

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        self.stream.writeln(f"    {test.id()}: {time.monotonic() - self._started:.2f} s")
        self.stream.flush()


start = time.monotonic()
runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout, resultclass=TimedResult)
result = runner.run(suite)
print(f"python client tests: {result.testsRun} run in {time.monotonic() - start:.1f} s")
if result.skipped:
    sys.exit(f"run_tests.sh: {len(result.skipped)} test(s) skipped; none may be")
sys.exit(0 if result.wasSuccessful() else 1)
EOF
