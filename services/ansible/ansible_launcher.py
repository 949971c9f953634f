"""Starts the worker's ansible-playbook runs, so that the worker (a large Node process) forks nothing.

    python3 -I -S ansible_launcher.py --parent-pid PID

One launcher lives as long as its worker (playbook-launcher.ts starts it on first use). It reads
one JSON request per line on stdin and answers one JSON line each on stdout, `id` naming the run:

    {"op": "prepare", "id": 1, "dir": RUN_DIR}
        makes two FIFOs in the run's (private) directory and answers {"id": 1, "fifos": [OUT, ERR]}.
        The caller opens both for reading, then asks for the start:
    {"op": "start", "id": 1, "argv": [...], "env": {...}, "cwd": DIR, "usage": OUT_JSON}
        forks a child in a new process group, with the FIFOs as its stdout and stderr (the output
        goes from the playbook to the caller, never through this process), and answers
        {"id": 1, "pid": PID} at once. The child supervises the command exactly as measure_rusage.py
        does (supervise(): grace period and tree kill on SIGTERM, child subreaper, OUT_JSON with
        the rusage or a spawn error, parent-death signal, RUN_DIR removed when orphaned), its parent
        being this launcher. When it has ended: {"id": 1, "exit": CODE} (128 + N after signal N).
    {"op": "drop", "id": 1}
        forgets a prepared run that will not be started (the caller removes its directory).

A request that cannot be carried out is answered {"id": 1, "error": "..."} (never with argv or
env values: they are the caller's, and the environment may hold credentials the operator passes).

Many runs may be in flight; the launcher is one thread around select(), so forking stays safe.
The caller cancels a run as before, by signalling its process group. When stdin closes (the
worker exited or died; it also asks for SIGTERM on its parent's death), the launcher removes the
directories of prepared runs, tells each running child to stop and exits: each child, now
orphaned, stops its tree and removes its run directory, as the wrapper does for a dead caller.
"""

import os
import select
import sys

try:
    import _signal as signal
except ImportError:
    import signal

# Imported here, once: the forked children then find them loaded (measure_rusage.py defers them
# to keep its own start short, which is no concern for a process that starts once).
import ctypes  # prctl and close_range in the children
import json
import shutil  # noqa: F401  (removal of an orphaned run's directory in the children)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure_rusage  # noqa: E402

FIFO_NAMES = ("stdout.fifo", "stderr.fifo")
STOP_SIGNALS = measure_rusage.STOP_SIGNALS
USAGE = "usage: ansible_launcher.py --parent-pid PID\n"


class Shutdown(Exception):
    """Stdin closed, or a stop signal came: the worker is gone or is going."""


class Run:
    __slots__ = ("id", "dir", "fifos", "pid", "pidfd")

    def __init__(self, run_id, directory, fifos):
        self.id = run_id
        self.dir = directory
        self.fifos = fifos
        self.pid = None
        self.pidfd = None


class Launcher:
    def __init__(self, replies_fd):
        self.replies_fd = replies_fd
        self.runs = {}
        self.pid = os.getpid()
        self.devnull = os.open(os.devnull, os.O_RDONLY)

    def reply(self, message):
        data = (json.dumps(message) + "\n").encode()
        while data:
            try:
                written = os.write(self.replies_fd, data)
            except OSError:
                raise Shutdown()  # the caller is gone (EPIPE)
            data = data[written:]

    def handle(self, line):
        try:
            request = json.loads(line)
            run_id = request["id"]
        except (ValueError, KeyError, TypeError):
            sys.stderr.write("ansible_launcher: a request that is not understood was ignored\n")
            return
        op = request.get("op")
        try:
            if op == "prepare":
                self.prepare(run_id, request["dir"])
            elif op == "start":
                self.start(run_id, request["argv"], request["env"], request["cwd"], request["usage"])
            elif op == "drop":
                run = self.runs.get(run_id)
                if run is not None and run.pid is None:
                    del self.runs[run_id]
            else:
                self.reply({"id": run_id, "error": "unknown op"})
        except Shutdown:
            raise
        except OSError as error:
            self.reply({"id": run_id, "error": f"{op}: {error.strerror or error}"})
        except (KeyError, TypeError, ValueError) as error:
            self.reply({"id": run_id, "error": f"{op}: malformed request ({type(error).__name__})"})

    def prepare(self, run_id, directory):
        if not isinstance(directory, str) or not os.path.isabs(directory) or run_id in self.runs:
            raise ValueError("dir")
        fifos = [os.path.join(directory, name) for name in FIFO_NAMES]
        for fifo in fifos:
            os.mkfifo(fifo, 0o600)
        self.runs[run_id] = Run(run_id, directory, fifos)
        self.reply({"id": run_id, "fifos": fifos})

    def start(self, run_id, argv, env, cwd, usage):
        run = self.runs.get(run_id)
        if run is None or run.pid is not None:
            raise ValueError("id")
        if not argv or not all(isinstance(arg, str) for arg in argv) or not isinstance(env, dict):
            raise ValueError("argv")
        if not isinstance(cwd, str) or not isinstance(usage, str):
            raise ValueError("cwd")
        writers = []
        try:
            for fifo in run.fifos:
                # Non-blocking: with no reader (the caller did not open it) this fails with ENXIO
                # instead of waiting. The command itself gets a blocking descriptor.
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                writers.append(fd)
                os.set_blocking(fd, True)
            # The child installs its handlers before it takes the stop signals: one that comes
            # meanwhile (a cancellation right after the pid is known) waits, and is not lost.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            try:
                pid = os.fork()
                if pid == 0:
                    self.child(run, writers, argv, env, cwd, usage)  # never returns
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        finally:
            for fd in writers:
                os.close(fd)
        # As the child does: whichever runs first, the group exists before the caller hears the pid.
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        run.pid = pid
        run.pidfd = measure_rusage.open_pidfd(pid)
        self.reply({"id": run_id, "pid": pid})

    def child(self, run, writers, argv, env, cwd, usage):
        code = 126
        try:
            os.setpgid(0, 0)
            os.dup2(self.devnull, 0)
            os.dup2(writers[0], 1)
            os.dup2(writers[1], 2)
            close_other_fds()
            os.chdir(cwd)
            # posix_spawnp looks the command up on this PATH: the run's environment, as a whole.
            # Only what differs from the launcher's is changed (clearing it all and setting it all
            # again costs the run's start most of a millisecond, in a just forked child).
            for name in [name for name in os.environ if name not in env]:
                del os.environ[name]
            for name, value in env.items():
                if os.environ.get(name) != value:
                    os.environ[name] = value
            code = measure_rusage.supervise(usage, self.pid, run.dir, argv)
        except BaseException as error:
            # The type and errno only: a message could quote the environment.
            try:
                os.write(2, f"ansible_launcher: cannot run the command: {type(error).__name__}\n".encode())
            except OSError:
                pass
        finally:
            os._exit(code)

    def reap(self, readable):
        for run in list(self.runs.values()):
            if run.pid is None or (run.pidfd is not None and run.pidfd not in readable):
                continue
            try:
                pid, status = os.waitpid(run.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = run.pid, 255 << 8
            if pid == 0:
                continue
            if run.pidfd is not None:
                os.close(run.pidfd)
            del self.runs[run.id]
            code = os.waitstatus_to_exitcode(status)
            self.reply({"id": run.id, "exit": code if code >= 0 else 128 - code})

    def serve(self):
        pending = b""
        while True:
            started = [run for run in self.runs.values() if run.pid is not None]
            watched = [0] + [run.pidfd for run in started if run.pidfd is not None]
            # Without pidfds (old kernels) the children are polled.
            timeout = 0.1 if any(run.pidfd is None for run in started) else None
            readable, _, _ = select.select(watched, [], [], timeout)
            if 0 in readable:
                chunk = os.read(0, 1 << 16)
                if not chunk:
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        self.handle(line)
            self.reap(readable)

    def shutdown(self):
        for run in self.runs.values():
            if run.pid is None:
                # Prepared, never started: its extra-vars file is nobody's to remove now.
                shutil.rmtree(run.dir, ignore_errors=True)
            else:
                # The child stops its tree: once this process has exited it is orphaned, and also
                # passes the stop on to the command and removes the run's directory.
                try:
                    os.kill(run.pid, signal.SIGTERM)
                except OSError:
                    pass


def libc_close_range():
    """close_range(2) of the C library (glibc 2.34+), or None."""
    try:
        function = ctypes.CDLL(None, use_errno=True).close_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_uint, ctypes.c_uint, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


CLOSE_RANGE = libc_close_range()


def close_other_fds():
    """Closes every descriptor above 2 (the launcher's stdin and reply pipe among them)."""
    # One call where the kernel has it (Linux 5.9+): listing /proc/self/fd costs a just forked
    # child a few tenths of a millisecond.
    if CLOSE_RANGE is not None and CLOSE_RANGE(3, 0xFFFFFFFF, 0) == 0:
        return
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, 1024)
    for fd in fds:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass


def main(argv):
    if len(argv) != 3 or argv[1] != "--parent-pid" or not argv[2].isdigit():
        sys.stderr.write(USAGE)
        return 126
    parent_pid = int(argv[2])

    def on_stop(signum, frame):
        raise Shutdown()

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_stop)
    measure_rusage.ask_for_parent_death_signal()
    if os.getppid() != parent_pid:
        return 0  # the worker died before this process started (or before the signal was armed)

    # Replies go to a descriptor of their own; anything printed by accident goes to stderr.
    replies_fd = os.dup(1)
    os.dup2(2, 1)
    launcher = Launcher(replies_fd)
    try:
        launcher.reply({"ready": True})
        launcher.serve()
    except Shutdown:
        pass
    finally:
        # No stop signal interrupts this: the children must hear of it.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        launcher.shutdown()
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    sys.stderr.flush()
    os._exit(code)
