"""Run ``brainsim`` commands as fresh processes forked from one that has imported brainsim.

A new Python process spends most of a second importing numpy and brainsim
before a bad input is refused; a test of hundreds of bad inputs would spend
most of its time there. This script imports them once, then reads one
request a line on stdin (JSON: ``args``, ``cwd``, ``out``, ``err``,
``timeout``, ``memory``) and forks a child for each: its own session, folder,
address-space limit and alarm, its stdout and stderr in the named files, and
``brainsim``'s own ``main`` called as ``python -m sim`` calls it, so that the
exit status, the output and a traceback (if any) are what a user would see.
It answers each request with one line: the exit status, or ``null`` when the
alarm killed the command.
"""

import contextlib
import json
import os
import resource
import signal
import sys
import traceback

import numpy  # noqa: F401 -- imported once, here, for every child
import yaml  # noqa: F401

import sim.cli
import sim.engine.simulate  # noqa: F401
import sim.studies.scenario  # noqa: F401


def child(request: dict) -> int:
    os.setsid()
    os.chdir(request["cwd"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the requests are not the command's input
    os.close(devnull)
    resource.setrlimit(resource.RLIMIT_AS, (request["memory"], request["memory"]))
    signal.alarm(request["timeout"])
    for fd, name in ((1, request["out"]), (2, request["err"])):
        target = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["brainsim", *request["args"]]
    try:
        return sim.cli.main(request["args"])
    except SystemExit as stop:  # argparse's refusals exit 2, as in a fresh process
        return stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # what Python prints for an uncaught exception, and its status
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(child(request))
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            with contextlib.suppress(ProcessLookupError):  # its workers, left by the alarm
                os.killpg(pid, signal.SIGKILL)
            answer = None
        else:
            answer = os.WEXITSTATUS(status)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
