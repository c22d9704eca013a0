#!/usr/bin/env bash
# `pip install ./python` works offline with Debian's pip and setuptools
# (python3-pip, python3-setuptools; no index, no build isolation), from a
# copy of python/ so the source tree stays clean: the package lands in the
# target with its metadata, and python3 imports it from there (and runs
# dtr.run, what an Executor's tasks run).
SRC=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
$PY -m pip --version >/dev/null 2>&1 || die "python3-pip is missing (scripts/install-deps.sh installs it)"
$PY -c 'import setuptools' 2>/dev/null || die "python3-setuptools is missing (scripts/install-deps.sh installs it)"

mkdir src && cp -r "$SRC/python/." src/ && rm -rf src/build src/*.egg-info
find src -name __pycache__ -prune -exec rm -rf {} +
$PY -m pip install --no-index --no-build-isolation --disable-pip-version-check --no-cache-dir \
    --target site ./src >pip.out 2>&1 || die "pip install failed: $(tail -15 pip.out)"
pass "pip install --no-index --no-build-isolation --target site ./python"
[ -f site/dtr/client.py ] && [ -f site/dtr/run.py ] && ls -d site/dtr-*.dist-info >/dev/null 2>&1 &&
    pass "the target holds the package and its dist-info" || fail "target: $(find site | head -20)"
[ ! -e site/tests ] && pass "the tests are not installed" || fail "site/tests installed"
(cd "$T/site/.." && PYTHONPATH=$T/site $PY -c 'import dtr; print(dtr.__file__, dtr.__version__, dtr.Client)') \
    >imp.out 2>&1 && grep -q "^$T/site/dtr/__init__.py 0.1.0 <class 'dtr.client.Client'>" imp.out &&
    pass "python3 imports dtr from the pip target" || fail "import: $(cat imp.out)"
PYTHONPATH=$T/site $PY -c 'import importlib.metadata as m; print(m.version("dtr"))' >meta.out 2>&1 &&
    grep -qx 0.1.0 meta.out && pass "importlib.metadata knows dtr 0.1.0" || fail "metadata: $(cat meta.out)"
# what an Executor's task runs on a worker: python3 -m dtr.run (without a
# call to run it says so and exits 3)
PYTHONPATH=$T/site $PY -m dtr.run </dev/null >run.out 2>&1
rc=$?
[ $rc -eq 3 ] && grep -q "^dtr.run: cannot load the call" run.out &&
    pass "python3 -m dtr.run starts from the pip target" || fail "dtr.run (exit $rc): $(tail -3 run.out)"
finish
