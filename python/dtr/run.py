# SPDX-License-Identifier: MIT
"""The worker's side of dtr.Executor: `python3 -m dtr.run [--main PATH] B64...`.

The arguments after the options are pieces of one base64 text (split so no
argument passes Linux's 128 KiB limit): a zlib-compressed pickle of
(fn, kwargs, [args, ...]). It calls fn(*args, **kwargs) for each args in
order and writes to stdout, as base64 of a zlib-compressed pickle, one
outcome per call: (0, value), (1, exception, traceback text) or (2, text,
traceback text) for an exception or value that does not pickle. What the
callables print goes to stderr (the task's stderr). Exit status 0 whenever
the outcomes were written, 3 when the call itself could not be loaded."""
import base64
import os
import pickle
import sys
import traceback
import zlib


def _fix_main(path):
    """Makes the client's __main__ module importable here, as
    multiprocessing's spawn does: run as __mp_main__, so code under
    `if __name__ == "__main__":` does not run again."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("__mp_main__", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["__mp_main__"] = mod
    sys.modules["__main__"] = mod
    d = os.path.dirname(os.path.abspath(path))
    if d not in sys.path:
        sys.path.insert(0, d)
    spec.loader.exec_module(mod)


def _outcome(fn, args, kwargs):
    try:
        value = fn(*args, **kwargs)
    except BaseException as e:  # noqa: B902 - everything goes back to the caller
        tb = traceback.format_exc()
        try:
            pickle.dumps(e)
            return (1, e, tb)
        except Exception:
            return (2, "%s: %s" % (type(e).__name__, e), tb)
    try:
        pickle.dumps(value)
        return (0, value)
    except Exception as e:
        return (2, "the return value does not pickle: %s: %s" % (type(e).__name__, e), "")


def main(argv):
    main_path = None
    if len(argv) >= 2 and argv[0] == "--main":
        main_path, argv = argv[1], argv[2:]
    out = os.dup(1)
    os.dup2(2, 1)  # print() of the callables goes to stderr
    try:
        if main_path:
            _fix_main(main_path)
        fn, kwargs, arglist = pickle.loads(zlib.decompress(base64.b64decode("".join(argv))))
    except BaseException:
        traceback.print_exc()
        sys.stderr.write("dtr.run: cannot load the call (is the module of the callable "
                         "importable on this worker? see python/README.md)\n")
        return 3
    outcomes = [_outcome(fn, args, kwargs) for args in arglist]
    blob = base64.b64encode(zlib.compress(pickle.dumps(outcomes, protocol=4), 1))
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(out, 1)
    view = memoryview(blob)
    while view:
        n = os.write(1, view)
        view = view[n:]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
