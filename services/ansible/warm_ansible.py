"""A warm ansible-playbook: Ansible imported once, one forked child per command.

Starting ansible-playbook costs about half a second before it reads a playbook, most of it
importing Ansible. This process pays that once: it imports ansible.cli.playbook (which reads the
configuration, i.e. the ansible.cfg of its working directory and its environment, exactly as an
ansible-playbook started there would), then reads one JSON command per line on stdin:

    {"id": 1, "argv": [...], "stdout": "<file>", "stderr": "<file>"}

and forks a child for each that runs ansible-playbook's own entry point with those arguments, its
output in the two files. It answers on stdout, one JSON line each: {"id", "pid"} once the child
exists, {"id", "exit"} when it ended (its exit code, or -signal). It stops when stdin closes, and
then removes the folder its first argument names (its local temp folder), if any.

Only commands whose configuration and environment are this process's belong here: the caller keys
one warm process per working directory and ansible.cfg (warm-ansible.ts).
"""

import json
import os
import shutil
import sys
import threading
import traceback


def run_child(playbook_cli, command):
    """In the forked child: ansible-playbook with the command's arguments and output files."""
    code = 250
    try:
        # A process group of its own: a command over its time is stopped with what it started.
        os.setpgid(0, 0)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            target = os.open(command[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.argv = ["ansible-playbook", *command["argv"]]
        playbook_cli.main()
        code = 0
    except SystemExit as ended:
        code = ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def main():
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    lock = threading.Lock()

    def reply(message):
        with lock:
            replies.write(json.dumps(message) + "\n")
            replies.flush()

    # What this process's own prints (none expected) go to: not the reply channel.
    os.dup2(2, 1)
    import ansible.cli.playbook as playbook_cli

    def wait_for(command_id, pid):
        _, status = os.waitpid(pid, 0)
        reply({"id": command_id, "exit": os.waitstatus_to_exitcode(status)})

    reply({"ready": True})
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(playbook_cli, command)
        try:
            os.setpgid(pid, pid)  # as the child does: whichever comes first
        except OSError:
            pass  # the child did it already, or has ended
        reply({"id": command["id"], "pid": pid})
        threading.Thread(target=wait_for, args=(command["id"], pid), daemon=True).start()
    # stdin closed: the caller stopped or died. Its temp folder goes with it.
    if len(sys.argv) > 1:
        shutil.rmtree(sys.argv[1], ignore_errors=True)


if __name__ == "__main__":
    main()
