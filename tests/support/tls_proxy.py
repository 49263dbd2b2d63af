"""An EC2 Query server behind the TLS proxy of ``roles/tls_proxy``: certificates made by
openssl (a CA, users' certificates it signs, a stranger's it does not), the role run by
real ansible-playbook into the instance's directory (its own nginx, on a free port), then
the server started. Clients are curl and boto3 over HTTPS."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from support.cloud import VENV_BIN, Db
from support.econe import REGION, EconeServer
from support.occi import OcciServer
from support.ports import free_port

REPO = Path(__file__).resolve().parents[2]


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


class Pki:
    """A CA and the certificates of a test, in ``root``: ``issue("alice", "/CN=alice")``
    makes ``alice.pem`` and ``alice.key`` signed by the CA (or by ``ca="rogue"``, another
    CA the proxy does not trust)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for ca in ("ca", "rogue"):
            _openssl(
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", str(root / f"{ca}.key"), "-out", str(root / f"{ca}.pem"),
                "-subj", f"/O=onekit tests/CN={ca} CA", "-days", "2",
            )  # fmt: skip
        self.ca = root / "ca.pem"

    def issue(self, name: str, subject: str, ca: str = "ca") -> tuple[Path, Path]:
        key, csr, cert = (self.root / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
        _openssl(
            "req", "-new", "-utf8", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", subject,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.root / f"{ca}.pem"),
            "-CAkey", str(self.root / f"{ca}.key"), "-CAcreateserial", "-out", str(cert),
            "-days", "2",
        )  # fmt: skip
        return cert, key

    def revoke(self, name: str) -> Path:
        """Revoke ``name``'s certificate: the CA's CRL (``crl.pem``), listing every
        certificate revoked so far."""
        config = self.root / "ca.cnf"
        if not config.exists():
            (self.root / "index.txt").write_text("")
            (self.root / "crlnumber").write_text("01\n")
            config.write_text(
                "[ca]\ndefault_ca = onekit_tests\n[onekit_tests]\n"
                f"database = {self.root}/index.txt\ncrlnumber = {self.root}/crlnumber\n"
                "default_md = sha256\ndefault_crl_days = 2\n"
            )
        signer = ("-config", str(config), "-keyfile", str(self.root / "ca.key"),
                  "-cert", str(self.ca))  # fmt: skip
        _openssl("ca", *signer, "-revoke", str(self.root / f"{name}.pem"))
        crl = self.root / "crl.pem"
        _openssl("ca", *signer, "-gencrl", "-out", str(crl))
        return crl


class Proxied:
    """What a running cloud server gets behind its TLS proxy (mixed into ``EconeServer``
    and ``OcciServer``): the role run before the server starts, which writes
    ``:ssl_server:`` and ``:auth:`` in the server's config; nginx stopped with it.
    ``client_ca``: the CA of x509 logins (None: no client certificates)."""

    root: Path
    url: str
    instance: Any

    def behind_proxy(self, client_ca: Path | None, auth: str, conf: Path) -> None:
        self.client_ca = client_ca
        self.auth = auth
        self.cloud_conf = conf
        self.proxy_port = free_port()
        self.proxy_dir = self.root / "proxy"
        self.public_url = f"https://localhost:{self.proxy_port}"
        self.direct_url = self.url  # the server's own port, where nobody should go

    @property
    def server_ca(self) -> Path:
        """The proxy's self-signed certificate, which clients verify the proxy with."""
        return self.proxy_dir / "server.crt"

    def role(self, *args: str, **overrides: str) -> subprocess.CompletedProcess:
        """``playbooks/tls_proxy.yml`` run by ansible-playbook, as an admin runs it."""
        variables = {
            "tls_proxy_dir": str(self.proxy_dir),
            "tls_proxy_onekit_home": str(self.instance.home),
            "tls_proxy_port": str(self.proxy_port),
            "tls_proxy_listen_address": "127.0.0.1",
            "tls_proxy_server_name": "localhost",
            "tls_proxy_upstream": self.url,
            "tls_proxy_cloud_conf": str(self.cloud_conf),
            "tls_proxy_cloud_auth": self.auth,
            "tls_proxy_client_ca": str(self.client_ca or ""),
            **overrides,
        }
        extra = [f"-e{name}={value}" for name, value in variables.items()]
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), str(REPO / "playbooks" / "tls_proxy.yml"),
             *extra, *args],
            capture_output=True, text=True, cwd=REPO, timeout=300,
            env=self.env(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),  # type: ignore[attr-defined]
        )  # fmt: skip

    def configure(self) -> None:
        """The server's own configuration, then the proxy (before the server starts)."""
        super().configure()  # type: ignore[misc]
        played = self.role()
        assert played.returncode == 0 and "failed=0" in played.stdout, played.stdout

    def stop(self) -> None:
        """nginx, then the server."""
        if (self.proxy_dir / "nginx.pid").exists():
            subprocess.run(
                ["/usr/sbin/nginx", "-p", f"{self.proxy_dir}/", "-c",
                 str(self.proxy_dir / "nginx.conf"), "-e", str(self.proxy_dir / "error.log"),
                 "-s", "stop"],
                capture_output=True, timeout=30,
            )  # fmt: skip
        super().stop()  # type: ignore[misc]

    def https(self, path: str, *args: str) -> tuple[int, str]:
        """``curl`` of ``<public URL><path>`` (``args``: ``--cert``...): status, body."""
        result = subprocess.run(
            ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--cacert", str(self.server_ca),
             *args, f"{self.public_url}{path}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        body, _, status = result.stdout.rpartition("\n")
        return int(status or 0), body + result.stderr

    def log(self) -> str:
        return self.instance.log_path().read_text(errors="replace")


class ProxiedEcone(Proxied, EconeServer):
    """The EC2 Query server of ``EconeServer`` behind its TLS proxy."""

    def __init__(self, client_ca: Path | None, auth: str, db: Db | None = None):
        EconeServer.__init__(self, db)
        self.behind_proxy(client_ca, auth, self.instance.econe_config_path)

    def curl(self, query: str, *args: str) -> tuple[int, str]:
        return self.https(f"/?{query}", *args)

    def https_client(
        self, cert: tuple[Path, Path] | None = None, user: str = "x509", secret: str = "unused"
    ) -> Any:
        """boto3 through the proxy, verifying it with its certificate; with ``cert``,
        presenting that client certificate (botocore's ``client_cert``)."""
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            client_cert=(str(cert[0]), str(cert[1])) if cert else None,
        )
        return boto3.client(
            "ec2",
            endpoint_url=self.public_url,
            region_name=REGION,
            aws_access_key_id=user,
            aws_secret_access_key=secret,
            verify=str(self.server_ca),
            config=config,
        )


class ProxiedOcci(Proxied, OcciServer):
    """The OCCI server of ``OcciServer`` behind its TLS proxy."""

    def __init__(self, client_ca: Path | None, auth: str, db: Db | None = None):
        OcciServer.__init__(self, db)
        self.behind_proxy(client_ca, auth, self.instance.occi_config_path)
