"""deploy/nginx/uhealthsec.conf, as shipped, run by Debian's nginx on loopback in front
of API processes started by a test, with a certificate made here: only the ports, the
certificate's paths, the server's name and the upstream's lines are changed. The tests
speak TLS to it as a browser would."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2

from tests.certificates import write_loopback_certificate

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "uhealthsec.conf"
NGINX = "/usr/sbin/nginx"


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx/uhealthsec.conf no longer has {old!r} once"
    return text.replace(old, new)


@dataclass
class Proxy:
    https: str
    http_port: int
    folder: Path
    certificate: Path

    def tls(self, maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.certificate))
        context.maximum_version = maximum
        return context

    def client(self, timeout: float = 30) -> httpx2.Client:
        return httpx2.Client(base_url=self.https, verify=self.tls(), timeout=timeout)


def certificate_in(folder: Path) -> tuple[Path, Path]:
    """A loopback certificate and its key in ``folder``."""
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    write_loopback_certificate(certificate, key)
    return certificate, key


@contextmanager
def nginx_in_front(
    folder: Path, api_ports: Sequence[int], https_port: int, http_port: int
) -> Iterator[Proxy]:
    """The shipped site in front of the API processes on ``api_ports`` (one upstream
    line each), until it answers /health through TLS; stopped on leaving."""
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    if not certificate.exists():
        certificate, key = certificate_in(folder)
    upstreams = "\n    ".join(f"server 127.0.0.1:{port};" for port in api_ports)
    site = SITE.read_text()
    for old, new in [
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"),
        ("    listen [::]:80;\n", ""),  # this machine may have no IPv6
        ("    listen [::]:443 ssl http2;\n", ""),
        ("server 127.0.0.1:8000;", upstreams),
        ("/etc/ssl/uhealthsec/fullchain.pem", str(certificate)),
        ("/etc/ssl/uhealthsec/privkey.pem", str(key)),
    ]:
        site = _replace_once(site, old, new)
    site = site.replace("server_name uhs.example.org;", "server_name localhost;")
    (folder / "site.conf").write_text(site)
    temp = {kind: folder / kind for kind in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    (folder / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {folder}/access.log;\n"
        f"    client_body_temp_path {temp['body']};\n"
        f"    proxy_temp_path {temp['proxy']};\n"
        f"    fastcgi_temp_path {temp['fastcgi']};\n"
        f"    uwsgi_temp_path {temp['uwsgi']};\n"
        f"    scgi_temp_path {temp['scgi']};\n"
        f"    include {folder}/site.conf;\n"
        "}\n"
    )
    nginx = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")], stderr=subprocess.PIPE
    )
    try:
        served = Proxy(f"https://localhost:{https_port}", http_port, folder, certificate)
        deadline = time.monotonic() + 30
        while True:
            try:
                with served.client() as client:
                    if client.get("/health").status_code == 200:
                        break
            except httpx2.TransportError:
                pass
            assert nginx.poll() is None, nginx.stderr.read().decode() if nginx.stderr else ""
            assert time.monotonic() < deadline, "nginx did not answer"
            time.sleep(0.2)
        yield served
    finally:
        nginx.terminate()
        nginx.wait(timeout=30)
