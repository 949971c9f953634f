"""Run a command and record the resources its whole process tree used.

Node cannot call getrusage() for a child process, so ansible-playbook runs under this wrapper:

    python3 measure_rusage.py OUT.json [--parent-pid PID] [--remove-if-orphaned DIR] -- COMMAND [ARG...]

OUT.json receives {"utime": s, "stime": s, "maxrss_kb": n} from getrusage(RUSAGE_CHILDREN), which
covers every descendant that was waited for (ansible-playbook waits for its workers, the workers
for their modules). The wrapper exits with the command's exit code (128 + N after signal N), or
writes {"spawn_error": ...} and exits 127 when the command cannot be started.

The same supervision runs without this command line, and without starting Python again, in the
children that ansible_launcher.py forks (supervise() below): there the parent is the launcher.

Stopping: on SIGTERM/SIGINT/SIGHUP it does not forward anything (the caller signals the whole
process group, and ansible-playbook passes the signal on to its workers, which call setsid() and
so are outside that group). It gives the command a grace period, then SIGKILLs it and every
process still below this one: as a Linux child subreaper it inherits the orphaned workers.

Orphaned: the caller runs the command in its own process group and session, so when the caller
dies without stopping it (a Node worker killed with SIGKILL cannot run an exit hook), nothing would
stop the tree and the run would go on unobserved, and in parallel with the retry that Temporal
starts elsewhere. So the wrapper asks the kernel (Linux prctl PR_SET_PDEATHSIG) for SIGTERM when its
parent dies, and then stops the command as above, this time passing SIGTERM on to the command
itself since nobody else signals the group. --parent-pid names the parent expected (the caller's
pid): when it is already gone by the time the wrapper starts, the command is not started at all.
--remove-if-orphaned names the caller's per-run directory (extra-vars file, possibly with secrets;
Ansible's temp files), which the dead caller can no longer remove: the wrapper removes it after
stopping the tree, and exits without writing OUT.json. Either way the exit code is 128 + SIGTERM.
"""

# Every step waits for this wrapper to start ansible-playbook, so before that it imports only
# modules built into the interpreter: json, subprocess, shutil, ctypes and `signal` (its enums)
# would add ~25 ms. ctypes is imported once the command runs, the others only where needed.
import os
import resource
import select
import sys
import time

try:
    import _signal as signal  # the C module behind `signal`: same functions and constants
except ImportError:
    import signal

GRACE_SECONDS = 2.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
USAGE = "usage: measure_rusage.py OUT.json [--parent-pid PID] [--remove-if-orphaned DIR] -- COMMAND [ARG...]\n"


def prctl(option, value):
    # Best effort: on other systems (or without a libc that has prctl) the feature is just missing.
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def become_subreaper():
    # Orphans (workers whose ansible-playbook died) re-parent to us instead of init, so a stop
    # can still find and kill them.
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def ask_for_parent_death_signal():
    # SIGTERM when the parent dies, however it dies. The kernel sends it when the parent *thread*
    # that forked us exits: Node spawns children from its main thread, which lives as long as it.
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def parse_args(argv):
    """(out_path, parent_pid, orphan_dir, command), or None when the arguments are not understood."""
    if len(argv) < 4:
        return None
    out_path, rest = argv[1], argv[2:]
    parent_pid, orphan_dir = None, None
    while rest and rest[0] != "--":
        if len(rest) < 2:
            return None
        option, value = rest[0], rest[1]
        if option == "--parent-pid" and value.isdigit():
            parent_pid = int(value)
        elif option == "--remove-if-orphaned" and value:
            orphan_dir = value
        else:
            return None
        rest = rest[2:]
    if len(rest) < 2:
        return None
    return out_path, parent_pid, orphan_dir, rest[1:]


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


def open_pidfd(pid):
    # A descriptor that becomes readable when the process exits (Linux 5.3+, Python 3.9+).
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def wait_for_exit(pid, pidfd, timeout):
    """The child's wait status once it has exited, else None after at most `timeout` seconds.

    With a pidfd the wait ends the moment the child exits; without one it is polled every 10 ms.
    """
    if pidfd is not None:
        select.select([pidfd], [], [], timeout)
    deadline = time.monotonic() + timeout
    while True:
        waited, status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return status
        if pidfd is not None or time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def write_usage(path, usage):
    # Three numbers: formatted here rather than by the json module, which is slow to import.
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    maxrss_kb = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
    write_text(path, '{"utime": %r, "stime": %r, "maxrss_kb": %d}' % (usage.ru_utime, usage.ru_stime, maxrss_kb))


def write_spawn_error(path, message):
    import json

    write_text(path, json.dumps({"spawn_error": message}))


def write_text(path, text):
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(partial, path)


def remove_orphaned_run(orphan_dir):
    if orphan_dir:
        import shutil

        shutil.rmtree(orphan_dir, ignore_errors=True)


def main(argv):
    args = parse_args(argv)
    if args is None:
        sys.stderr.write(USAGE)
        return 126
    out_path, parent_pid, orphan_dir, command = args
    if parent_pid is None:
        parent_pid = os.getppid()
    return supervise(out_path, parent_pid, orphan_dir, command)


def supervise(out_path, parent_pid, orphan_dir, command):
    """Runs `command` (this process's environment and working directory) as described above.

    Returns the exit code to exit with. Also called by ansible_launcher.py in a child it forked,
    with the stop signals blocked until the handlers below are in place.
    """
    stop_requested = []

    def on_stop(signum, frame):
        if not stop_requested:
            stop_requested.append(time.monotonic())

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_stop)
    # A stop that came while they were blocked (the launcher's fork) is handled now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def orphaned():
        return os.getppid() != parent_pid

    # The parent is already gone: nobody waits for this run.
    if orphaned():
        remove_orphaned_run(orphan_dir)
        return 128 + signal.SIGTERM

    try:
        # posix_spawnp looks the command up on PATH, as a shell would. Python ignores SIGPIPE and
        # SIGXFSZ; the command gets their default actions back, as subprocess would give it.
        pid = os.posix_spawnp(command[0], command, os.environ, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
    except OSError as error:
        write_spawn_error(out_path, f"{command[0]}: {error.strerror}")
        return 127

    # Armed once the command is starting, not before: the ctypes import then costs the run nothing.
    # A parent that died before the death signal was armed is noticed by orphaned() in the loop
    # below (its first turn), and the run is stopped as if the signal had come.
    become_subreaper()
    ask_for_parent_death_signal()

    pidfd = open_pidfd(pid)
    forwarded = False
    killed = False
    while True:
        status = wait_for_exit(pid, pidfd, 0.1)
        if status is not None:
            break
        if not stop_requested and orphaned():
            # Where no death signal can be had, noticing the new parent does the same, later.
            stop_requested.append(time.monotonic())
        if not stop_requested:
            continue
        if not forwarded and orphaned():
            # The caller is gone and signals nothing: the command hears of the stop from us.
            forwarded = True
            os.kill(pid, signal.SIGTERM)
        if not killed and time.monotonic() - stop_requested[0] > GRACE_SECONDS:
            killed = True
            os.kill(pid, signal.SIGKILL)

    if pidfd is not None:
        os.close(pidfd)
    if stop_requested:
        kill_tree()
    reap_finished()
    if orphaned():
        # Nobody reads OUT.json or the run's files any more (stderr may be a broken pipe too).
        remove_orphaned_run(orphan_dir)
        return 128 + signal.SIGTERM

    write_usage(out_path, resource.getrusage(resource.RUSAGE_CHILDREN))
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stderr.flush()
    # Straight out, without the interpreter's teardown: the step's result waits for this exit.
    os._exit(code)
