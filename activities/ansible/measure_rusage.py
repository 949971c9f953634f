"""Run a command and record the resources its whole process tree used.

Node cannot call getrusage() for a child process, so ansible-playbook runs under this wrapper:

    python3 measure_rusage.py OUT.json -- COMMAND [ARG...]

OUT.json receives {"utime": s, "stime": s, "maxrss_kb": n} from getrusage(RUSAGE_CHILDREN), which
covers every descendant that was waited for (ansible-playbook waits for its workers, the workers
for their modules). The wrapper exits with the command's exit code (128 + N after signal N), or
writes {"spawn_error": ...} and exits 127 when the command cannot be started.

Stopping: on SIGTERM/SIGINT/SIGHUP it does not forward anything (the caller signals the whole
process group, and ansible-playbook passes the signal on to its workers, which call setsid() and
so are outside that group). It gives the command a grace period, then SIGKILLs it and every
process still below this one: as a Linux child subreaper it inherits the orphaned workers.
"""

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 2.0
PR_SET_CHILD_SUBREAPER = 36


def become_subreaper():
    # Orphans (workers whose ansible-playbook died) re-parent to us instead of init, so a stop
    # can still find and kill them. Best effort: other systems just lose that.
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def live_descendants(root):
    children = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields start after the last ')'.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) < 2:
            continue
        children.setdefault(int(fields[1]), []).append((int(entry), fields[0]))
    found, stack = [], [root]
    while stack:
        for pid, state in children.get(stack.pop(), []):
            stack.append(pid)
            if state != b"Z":
                found.append(pid)
    return found


def reap_finished():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree():
    for _ in range(40):
        pids = live_descendants(os.getpid())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reap_finished()


def write_json(path, data):
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(partial, path)


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: measure_rusage.py OUT.json -- COMMAND [ARG...]\n")
        return 126
    out_path, command = argv[1], argv[3:]

    stop_requested = []

    def on_stop(signum, frame):
        if not stop_requested:
            stop_requested.append(time.monotonic())

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_stop)
    become_subreaper()

    try:
        child = subprocess.Popen(command)
    except OSError as error:
        write_json(out_path, {"spawn_error": f"{command[0]}: {error.strerror}"})
        return 127

    while True:
        try:
            code = child.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            if stop_requested and time.monotonic() - stop_requested[0] > GRACE_SECONDS:
                child.kill()

    if stop_requested:
        kill_tree()
    reap_finished()

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    maxrss_kb = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    write_json(out_path, {"utime": usage.ru_utime, "stime": usage.ru_stime, "maxrss_kb": maxrss_kb})
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
