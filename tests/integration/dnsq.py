"""dnsq: a tiny stdlib DNS client and a dnsmasq runner for the tests.

query(name, port) sends one UDP question to 127.0.0.1:port and returns an
Answer(rcode, addrs): addrs are the A (or AAAA) addresses, sorted, because
dnsmasq rotates the records of one name on every query. A timeout, a
truncated or malformed reply raises DnsError. Everything read from the
wire is bounded: the datagram size, the number of records, the
compression pointers followed.

Dnsmasq starts Debian's /usr/sbin/dnsmasq (dnsmasq-base) in the
foreground on a free loopback port, with no upstream servers, no
/etc/hosts and no config file, and collects its log (stderr) in a thread
so a test can wait for what dnsmasq says it did ("read FILE - N names",
"inotify: ... new or modified"). restart() stops it and starts it again
with the same arguments; hup() sends SIGHUP.
"""

import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time

DNSMASQ = "/usr/sbin/dnsmasq"

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          4: "NOTIMP", 5: "REFUSED"}

MAX_DATAGRAM = 4096
MAX_RECORDS = 256
MAX_POINTERS = 32


class DnsError(Exception):
    pass


class DnsTimeout(DnsError):
    pass


class Answer:
    def __init__(self, rcode, addrs):
        self.rcode = rcode
        self.addrs = addrs

    @property
    def rcode_name(self):
        return RCODES.get(self.rcode, str(self.rcode))

    def __repr__(self):
        return "Answer(%s, %r)" % (self.rcode_name, self.addrs)


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError("bad label in %r" % name)
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(name, qtype, qid):
    # RD set, as dig sends it; dnsmasq answers hosts entries either way.
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def skip_name(msg, off):
    """Offset just past the (possibly compressed) name at off."""
    pointers = 0
    while True:
        if off >= len(msg):
            raise DnsError("name runs past the end")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            pointers += 1
            if pointers > MAX_POINTERS or off + 2 > len(msg):
                raise DnsError("bad compression pointer")
            return off + 2
        if n & 0xC0:
            raise DnsError("bad label type")
        if n == 0:
            return off + 1
        off += 1 + n


def parse_response(msg, qid, qtype):
    if len(msg) < 12:
        raise DnsError("short reply (%d bytes)" % len(msg))
    rid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if rid != qid:
        raise DnsError("reply id %d, asked %d" % (rid, qid))
    if not flags & 0x8000:
        raise DnsError("not a reply")
    if flags & 0x0200:
        raise DnsError("truncated reply")
    if qd > 1 or an > MAX_RECORDS:
        raise DnsError("implausible counts qd=%d an=%d" % (qd, an))
    off = 12
    for _ in range(qd):
        off = skip_name(msg, off) + 4
    addrs = []
    for _ in range(an):
        off = skip_name(msg, off)
        if off + 10 > len(msg):
            raise DnsError("record header runs past the end")
        rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH",
                                                    msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if len(rdata) != rdlen:
            raise DnsError("record data runs past the end")
        off += rdlen
        if rtype == qtype == TYPE_A and rdlen == 4:
            addrs.append(socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == qtype == TYPE_AAAA and rdlen == 16:
            addrs.append(socket.inet_ntop(socket.AF_INET6, rdata))
    return Answer(flags & 0x000F, sorted(addrs))


def query(name, port, host="127.0.0.1", qtype=TYPE_A, timeout=1.0):
    """One question over UDP; Answer or DnsError (timeout, bad reply)."""
    qid = random.randrange(1 << 16)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
            s.send(build_query(name, qtype, qid))
            return parse_response(s.recv(MAX_DATAGRAM), qid, qtype)
        except socket.timeout:
            raise DnsTimeout("no reply within %.3fs" % timeout)
        except ConnectionRefusedError:
            # ICMP port unreachable: nothing listens (dnsmasq is down).
            raise DnsError("connection refused")


def addrs(name, port, **kw):
    """The sorted addresses, or None when the query failed."""
    try:
        return query(name, port, **kw).addrs
    except DnsError:
        return None


def free_udp_port():
    """A UDP port on 127.0.0.1 that is free right now (and TCP too)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            # dnsmasq binds TCP on the same port: check it is free too.
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair found")


def dnsmasq_missing():
    """None when dnsmasq can run here, else why not (for skipTest)."""
    if not os.access(DNSMASQ, os.X_OK):
        return "%s not installed (Debian package dnsmasq-base)" % DNSMASQ
    return None


def dnsmasq_version():
    out = subprocess.run([DNSMASQ, "--version"], capture_output=True,
                         text=True, timeout=10).stdout
    first = out.splitlines()[0] if out else ""
    return first.split()[2] if first.startswith("Dnsmasq version") else "?"


class Dnsmasq:
    """dnsmasq in the foreground on 127.0.0.1:port, log lines collected.

    hosts: list of extra arguments such as ["--addn-hosts=F"] or
    ["--hostsdir=D"]. The process is a child of the test, so restart()
    and stop() know exactly when it is gone.
    """

    def __init__(self, workdir, hosts_args, port=None, extra=()):
        self.port = port or free_udp_port()
        self.pid_file = os.path.join(workdir, "dnsmasq.pid")
        user = "root" if os.geteuid() == 0 else None
        self.args = [
            DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts",
            "--no-poll", "--port=%d" % self.port,
            "--listen-address=127.0.0.1", "--bind-interfaces",
            "--pid-file=" + self.pid_file, "--conf-file=/dev/null",
            "--log-facility=-", "--cache-size=1000",
        ] + (["--user=" + user] if user else []) + list(hosts_args) + \
            list(extra)
        self.proc = None
        self.lines = []
        self.starts = 0
        self.cond = threading.Condition()
        self.eof = None
        self.notify_fifo = None
        self.stopping = False

    # -- process -----------------------------------------------------
    def start(self, wait_started=True, timeout=10):
        mark = self.mark()
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.starts += 1
        threading.Thread(target=self._read, args=(self.proc,),
                         daemon=True).start()
        if wait_started:
            # Logged after the sockets are bound and the hosts read.
            self.wait_log("started, version", timeout=timeout, start=mark)
        return self

    def _read(self, proc):
        for line in proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        proc.stderr.close()
        with self.cond:
            self.eof = proc
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        if self.proc is None:
            return None
        with self.cond:
            self.stopping = True
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def restart(self, wait_started=True):
        """What `systemctl restart` does to a dnsmasq: stop, then start."""
        self.stop()
        self.stopping = False
        return self.start(wait_started=wait_started)

    def supervise(self, notify_fifo=None):
        """Start again whenever it exits, as systemd's Restart=always
        would, until stop(). A restart command then only has to kill it.
        When notify_fifo is given, a line is written to it once the new
        process has started, so a restart script that holds the FIFO open
        can return when the restart is complete (as `systemctl restart`
        does) instead of racing the next restart against a stale pid file.
        """
        self.notify_fifo = notify_fifo
        threading.Thread(target=self._supervise, daemon=True).start()
        return self

    def _supervise(self):
        while True:
            self.proc.wait()
            with self.cond:
                if self.stopping:
                    return
                mark = self.mark()
                self.start(wait_started=False)
            self.wait_log("started, version", start=mark)
            if self.notify_fifo:
                self._notify()

    def _notify(self):
        try:
            fd = os.open(self.notify_fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # nobody waiting (ENXIO): not a scripted restart
        try:
            os.write(fd, b"started %d\n" % self.proc.pid)
        finally:
            os.close(fd)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    # -- log -----------------------------------------------------------
    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_log(self, needle, timeout=10, start=0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if needle in self.lines[i]:
                        return i
                if self.proc is not None and self.eof is self.proc:
                    self.proc.wait()
                    raise AssertionError("dnsmasq exited (%s) before %r:\n%s"
                                         % (self.proc.returncode, needle,
                                            self.log()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("dnsmasq: no %r within %ss:\n%s"
                                         % (needle, timeout, self.log()))
                self.cond.wait(left)

    def log(self, start=0):
        with self.cond:
            return "\n".join(self.lines[start:])

    def log_lines(self, start=0):
        with self.cond:
            return list(self.lines[start:])


def which_dig():
    return shutil.which("dig")
