"""The emulator behind TLS: a front on ``https://127.0.0.1:<port>`` with a self-signed certificate
made at start, relaying to a running :class:`~.server.EmulatorServer`, so TLS failures can be
injected where a plain-HTTP emulator cannot have them.

- Faults ``tls_garbage_after_request`` and ``tls_close_after_request`` (armed like any fault,
  e.g. ``control.add_fault("POST /api/20210901/system/actions/restoreSnapshot",
  "tls_garbage_after_request")``): the emulator acts on the request, then this front, instead of
  the answer, writes bytes that are no TLS record (or closes the TCP connection without a TLS
  close) — a server or middlebox that broke its TLS answer after the request was read.
- :attr:`TLSFront.break_handshakes`: the next N connections get garbage instead of the server's
  handshake (nothing is sent to the emulator); :attr:`TLSFront.stall_handshakes`: the next N get
  no answer to their ClientHello (the handshake times out).

Only loopback; the certificate's key lives in a temporary directory removed at :meth:`stop`.
Needs ``cryptography`` (Airflow installs it).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import selectors
import shutil
import socket
import ssl
import struct
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

if TYPE_CHECKING:
    from airflow_provider_oac.emulator.config import EmulatorConfig
    from airflow_provider_oac.emulator.control import EmulatorControl
    from airflow_provider_oac.emulator.server import EmulatorServer

#: Not a TLS record (a TLS record starts with a content type 20-24 and version 3.x).
GARBAGE = b"\x17\x03\x03\x00\x30" + bytes(range(0x30))
_CHUNK = 65536


def make_self_signed(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (and ``localhost``) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oac-emulator")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class TLSFront:
    """``https://127.0.0.1:<port>`` in front of ``emulator``. Use as a context manager.

    :attr:`url` is the OAC URL over TLS, :attr:`ca_file` the certificate to trust (a connection's
    ``ca_bundle`` extra). :attr:`iam_url`, :attr:`config` and :attr:`control` are the emulator's
    own (IAM stays on plain loopback HTTP, so a login can be made without the certificate).
    """

    def __init__(self, emulator: EmulatorServer):
        self.emulator = emulator
        self.break_handshakes = 0
        #: The next N connections get no answer to their ClientHello (a handshake that times out).
        self.stall_handshakes = 0
        #: TCP connections accepted so far (tests check that a client reused one).
        self.connections = 0
        self._dir: Path | None = None
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def iam_url(self) -> str:
        return self.emulator.iam_url

    @property
    def config(self) -> EmulatorConfig:
        return self.emulator.config

    @property
    def control(self) -> EmulatorControl:
        return self.emulator.control

    @property
    def ca_file(self) -> str:
        if self._dir is None:
            raise RuntimeError("the TLS front is not started")
        return str(self._dir / "cert.pem")

    def start(self) -> TLSFront:
        self._dir = Path(tempfile.mkdtemp(prefix="oac-emulator-tls-"))
        cert, key = make_self_signed(self._dir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._context = context
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.2)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._thread = threading.Thread(
            target=self._accept, name=f"oac-emulator-tls-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> TLSFront:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- serving -----------------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take_handshake_break(self) -> bool:
        with self._lock:
            if self.break_handshakes > 0:
                self.break_handshakes -= 1
                return True
            return False

    def _take_handshake_stall(self) -> bool:
        with self._lock:
            if self.stall_handshakes > 0:
                self.stall_handshakes -= 1
                return True
            return False

    def _serve(self, raw: socket.socket) -> None:
        with contextlib.ExitStack() as stack:
            stack.enter_context(raw)
            raw.settimeout(30)
            if self._take_handshake_stall():
                with contextlib.suppress(OSError):
                    raw.recv(_CHUNK)  # the ClientHello, never answered
                    self._stopping.wait(10)
                return
            if self._take_handshake_break():
                with contextlib.suppress(OSError):
                    raw.recv(_CHUNK)  # the ClientHello
                    raw.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                return
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            assert self._context is not None
            tls = self._context.wrap_bio(incoming, outgoing, server_side=True)
            try:
                self._handshake(raw, tls, incoming, outgoing)
            except (OSError, ssl.SSLError):
                return
            upstream = stack.enter_context(
                socket.create_connection(("127.0.0.1", self.emulator.port), timeout=30)
            )
            self._relay(raw, upstream, tls, incoming, outgoing)

    @staticmethod
    def _handshake(
        raw: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO
    ) -> None:
        while True:
            try:
                tls.do_handshake()
                raw.sendall(outgoing.read())
                return
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    raw.sendall(pending)
                data = raw.recv(_CHUNK)
                if not data:
                    raise ConnectionError("the client left during the handshake") from None
                incoming.write(data)

    def _relay(
        self,
        raw: socket.socket,
        upstream: socket.socket,
        tls: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
    ) -> None:
        state = self.emulator.state
        upstream_port = upstream.getsockname()[1]
        early = _read_all(tls)  # application data that came with the end of the handshake
        if early:
            upstream.sendall(early)
        with selectors.DefaultSelector() as selector:
            selector.register(raw, selectors.EVENT_READ, "client")
            selector.register(upstream, selectors.EVENT_READ, "upstream")
            while not self._stopping.is_set():
                for key, _ in selector.select(timeout=0.5):
                    try:
                        if key.data == "client":
                            data = raw.recv(_CHUNK)
                            if not data:
                                return
                            incoming.write(data)
                            plain = _read_all(tls)
                            if plain:
                                upstream.sendall(plain)
                            pending = outgoing.read()
                            if pending:
                                raw.sendall(pending)
                        else:
                            data = upstream.recv(_CHUNK)
                            if not data:
                                return
                            how = state.faults.take_tls_break(upstream_port)
                            if how == "close":
                                _close_uncleanly(raw)
                                return
                            if how == "garbage":
                                raw.sendall(GARBAGE)
                                return
                            tls.write(data)
                            raw.sendall(outgoing.read())
                    except (OSError, ssl.SSLError):
                        return


def _read_all(tls: ssl.SSLObject) -> bytes:
    chunks = []
    while True:
        try:
            chunk = tls.read(_CHUNK)
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _close_uncleanly(raw: socket.socket) -> None:
    """Close without a TLS close_notify, with a TCP reset (SO_LINGER 0)."""
    with contextlib.suppress(OSError):
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
