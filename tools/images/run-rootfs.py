#!/usr/bin/env python3
"""Runs a command from an image's root filesystem the way a container runtime runs a pod's container, for hosts where
no container runtime can run (docs/images.md): used by tools/images/image-run.test.ts.

    run-rootfs.py --rootfs DIR --user UID:GID [--workdir DIR] [--env K=V]... [--tmpfs PATH]... [--volume HOST:PATH]...
                  -- ARGV...

In new mount and PID namespaces (loopback networking stays shared): DIR (e.g. `buildah mount`) bind-mounted
read-only as the new root (readOnlyRootFilesystem), proc, /dev, an emptyDir-like tmpfs per --tmpfs, a read-only bind
per --volume (mountpoints are created in DIR first, as runtimes do), a /dev with only the default devices, then chroot, WORKDIR, no supplementary groups,
the numeric uid/gid (runAsNonRoot), no_new_privs (allowPrivilegeEscalation: false), only the given environment,
and exec of ARGV (resolved on the image's PATH) as PID 1 of its namespace. This process stays outside as the
parent: it forwards SIGTERM/SIGINT, exits with the container's exit code, and the container is SIGKILLed when it dies.
Needs root.
"""
import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(*args):
    subprocess.run(["mount", *args], check=True)


def inside(root, path):
    return os.path.join(root, path.lstrip("/"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rootfs", required=True)
    p.add_argument("--user", required=True, help="numeric UID:GID")
    p.add_argument("--workdir", default="/")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--tmpfs", action="append", default=[])
    p.add_argument("--volume", action="append", default=[])
    p.add_argument("argv", nargs="+")
    a = p.parse_args()
    uid, gid = (int(x) for x in a.user.split(":"))
    if uid == 0:
        sys.exit("run-rootfs: refusing uid 0 (runAsNonRoot)")
    env = dict(e.split("=", 1) for e in a.env)

    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID), "unshare")
    pid = os.fork()
    if pid == 0:
        try:
            # PID 1 of the new namespace, in a private copy of the mount table.
            check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            mount("--make-rprivate", "/")
            for path in a.tmpfs + [v.split(":", 1)[1] for v in a.volume]:
                os.makedirs(inside(a.rootfs, path), exist_ok=True)
            root = tempfile.mkdtemp(prefix="kubeaws-rootfs-")
            mount("--bind", a.rootfs, root)
            mount("-o", "remount,bind,ro,nosuid,nodev", root)
            mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", inside(root, "/proc"))
            # /dev as a runtime makes it: a tmpfs with the default devices, /dev/shm, /dev/pts and the fd links
            dev = inside(root, "/dev")
            mount("-t", "tmpfs", "-o", "mode=755,nosuid,noexec,size=65536k", "tmpfs", dev)
            for name in ("null", "zero", "full", "random", "urandom", "tty"):
                open(os.path.join(dev, name), "w").close()
                mount("--bind", f"/dev/{name}", os.path.join(dev, name))
            for name, opts in (("shm", "mode=1777,nosuid,nodev,noexec,size=65536k"),):
                os.makedirs(os.path.join(dev, name))
                mount("-t", "tmpfs", "-o", opts, "tmpfs", os.path.join(dev, name))
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                                 ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
                os.symlink(target, os.path.join(dev, name))
            for path in a.tmpfs:
                mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", inside(root, path))
            for v in a.volume:
                host, path = v.split(":", 1)
                mount("--bind", host, inside(root, path))
                mount("-o", "remount,bind,ro,nosuid,nodev", inside(root, path))
            os.chroot(root)
            os.chdir(a.workdir)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl")
            # cleared by the credential change above
            check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
            os.execvpe(a.argv[0], a.argv, env)
        except BaseException as e:  # noqa: BLE001 - report anything before exec, then fail
            print(f"run-rootfs: {e}", file=sys.stderr, flush=True)
            os._exit(127)
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda sig, _f: os.kill(pid, sig))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    sys.exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))


if __name__ == "__main__":
    main()
