"""Runs a command on a pseudo-terminal of a given size and checks that
what it drew fits: the helper of tests/cli/top.sh and stat.sh.

  pty_run.py run ROWS COLS OUT [--sigint-after S] -- COMMAND...
      runs COMMAND with stdin/stdout/stderr on a ROWSxCOLS terminal, saves
      every byte it wrote to OUT and exits with its status (after sending
      SIGINT S seconds in, when asked).
  pty_run.py check OUT ROWS COLS MIN_FRAMES
      the output redraws in place: at least MIN_FRAMES frames, each
      starting with cursor home (ESC [ H), none with more than ROWS lines
      or a line wider than COLS columns, nothing before the first frame.
"""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time


def run(argv):
    rows, cols, out = int(argv[0]), int(argv[1]), argv[2]
    rest = argv[3:]
    sigint_after = None
    if rest[0] == "--sigint-after":
        sigint_after = float(rest[1])
        rest = rest[2:]
    assert rest[0] == "--"
    cmd = rest[1:]
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    data = bytearray()
    start = time.monotonic()
    sent = False
    while True:
        if sigint_after is not None and not sent and \
                time.monotonic() - start >= sigint_after:
            proc.send_signal(signal.SIGINT)
            sent = True
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command closed the terminal
                chunk = b""
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
        if time.monotonic() - start > 60:
            proc.kill()
            break
    rc = proc.wait()
    os.close(master)
    with open(out, "wb") as f:
        f.write(data)
    return rc if rc >= 0 else 128 - rc


CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def check(argv):
    out, rows, cols, min_frames = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    text = open(out, "rb").read().decode("utf-8", "replace").replace("\r", "")
    parts = text.split("\x1b[H")
    problems = []
    if parts[0].strip():
        problems.append("output before the first frame: %r" % parts[0][:200])
    frames = parts[1:]
    if len(frames) < min_frames:
        problems.append("%d frames (cursor-home sequences), want >= %d"
                        % (len(frames), min_frames))
    for n, frame in enumerate(frames):
        plain = CSI.sub("", frame)
        if n == len(frames) - 1 and plain.endswith("\n"):
            plain = plain[:-1]  # the newline that ends the last frame
        lines = plain.split("\n")
        if len(lines) > rows:
            problems.append("frame %d has %d lines > %d" % (n, len(lines), rows))
        for line in lines:
            if len(line) > cols:
                problems.append("frame %d: %d columns > %d: %r"
                                % (n, len(line), cols, line))
    if problems:
        print("\n".join(problems[:20]))
        print("--- output:\n" + text[:4000])
        return 1
    return 0


if __name__ == "__main__":
    mode = sys.argv[1]
    sys.exit(run(sys.argv[2:]) if mode == "run" else check(sys.argv[2:]))
