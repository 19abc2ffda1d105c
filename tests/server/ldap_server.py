"""A real OpenLDAP ``slapd`` for the LDAP sign-in tests.

``running_slapd(directory)`` writes an old-style ``slapd.conf`` (the Debian schema files,
``back_mdb``, the ``memberof`` overlay) and an LDIF of the directory below into
``directory``, loads the LDIF with ``slapadd``, starts ``slapd -d 0`` in the foreground on
a free port of 127.0.0.1, waits until it answers and stops it when the block ends. Where
``openssl`` is installed it also serves TLS (StartTLS on ``url``, and ``ldaps_url``) with a
certificate for ``localhost`` and 127.0.0.1 signed by a CA of its own (``ca_file``).

The directory (``dc=example,dc=org``)::

    ou=services   cn=tunehouse            the service account (SERVICE_DN)
    ou=people     uid=alice ... uid=<name>  inetOrgPerson + posixAccount, password "<name>-pw"
    ou=groups     cn=admins               groupOfNames: bob
                  cn=vision-editors       groupOfNames: alice
                  cn=nlp                  posixGroup, memberUid: carol
                  cn=ml-readers           groupOfNames: alice, carol; added over LDAP once
                                          slapd runs, so only this group is in memberOf

Users may only be read by a bound DN (the service account): anonymous clients can but
authenticate, as in a real directory.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.server import free_port
from tests.helpers.wait import wait_until

SLAPD = Path("/usr/sbin/slapd")
SLAPADD = Path("/usr/sbin/slapadd")
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret"
SERVICE_DN = f"cn=tunehouse,ou=services,{SUFFIX}"
SERVICE_PASSWORD = "service-secret"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "admin")
START_TIMEOUT_S = 15.0

CONF = """\
include {schema}/core.schema
include {schema}/cosine.schema
include {schema}/inetorgperson.schema
include {schema}/nis.schema
{tls}pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath {modules}
moduleload back_mdb
moduleload memberof
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{root_dn}"
rootpw {root_password}
directory {dir}/data
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


def password_of(user: str) -> str:
    """The LDAP password of a user of the test directory."""
    return f"{user}-pw"


def _entry(dn: str, **attributes: str | list[str]) -> str:
    lines = [f"dn: {dn}"]
    for name, values in attributes.items():
        for value in [values] if isinstance(values, str) else values:
            lines.append(f"{name}: {value}")
    return "\n".join(lines) + "\n"


def directory_ldif() -> str:
    """The entries ``slapadd`` loads before slapd starts."""
    entries = [
        _entry(SUFFIX, objectClass=["dcObject", "organization"], dc="example", o="Example"),
        _entry(PEOPLE, objectClass="organizationalUnit", ou="people"),
        _entry(GROUPS, objectClass="organizationalUnit", ou="groups"),
        _entry(f"ou=services,{SUFFIX}", objectClass="organizationalUnit", ou="services"),
        _entry(SERVICE_DN, objectClass=["organizationalRole", "simpleSecurityObject"],
               cn="tunehouse", userPassword=SERVICE_PASSWORD),
    ]
    for number, user in enumerate(USERS):
        entries.append(_entry(
            f"uid={user},{PEOPLE}", objectClass=["inetOrgPerson", "posixAccount"], uid=user,
            cn=user.title(), sn=user.title(), mail=f"{user}@example.org",
            uidNumber=str(10_000 + number), gidNumber="10000", homeDirectory=f"/home/{user}",
            userPassword=password_of(user)))
    entries += [
        _entry(f"cn=admins,{GROUPS}", objectClass="groupOfNames", cn="admins",
               member=f"uid=bob,{PEOPLE}"),
        _entry(f"cn=vision-editors,{GROUPS}", objectClass="groupOfNames", cn="vision-editors",
               member=f"uid=alice,{PEOPLE}"),
        _entry(f"cn=nlp,{GROUPS}", objectClass="posixGroup", cn="nlp", gidNumber="20000",
               memberUid="carol"),
    ]
    return "\n".join(entries)


@dataclass
class SlapdProcess:
    """A running slapd on ``url``."""

    url: str
    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    ldaps_url: str | None = None
    ca_file: Path | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "slapd.log"

    def start(self) -> None:
        urls = " ".join(url + "/" for url in (self.url, self.ldaps_url) if url)
        command = [str(SLAPD), "-h", urls, "-f", str(self.directory / "slapd.conf"), "-d", "0"]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        self._wait_answering()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def _wait_answering(self) -> None:
        import ldap3

        def answering() -> bool:
            try:
                server = ldap3.Server(self.url, connect_timeout=1, get_info=ldap3.NONE)
                with ldap3.Connection(server, ROOT_DN, ROOT_PASSWORD, auto_bind=True,
                                      receive_timeout=2):
                    return True
            except ldap3.core.exceptions.LDAPException:
                return False

        def running() -> None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"slapd exited with {self.proc.returncode}")

        try:
            wait_until(answering, START_TIMEOUT_S, "slapd to answer", check=running)
        except AssertionError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n" + self.log_path.read_text(errors="replace")) from None

    def add_group(self, cn: str, members: list[str]) -> None:
        """Add a groupOfNames of ``members`` (user names) over LDAP: the memberof overlay
        then writes it into the members' ``memberOf``."""
        import ldap3

        server = ldap3.Server(self.url, connect_timeout=2, get_info=ldap3.NONE)
        with ldap3.Connection(server, ROOT_DN, ROOT_PASSWORD, auto_bind=True) as conn:
            ok = conn.add(f"cn={cn},{GROUPS}", "groupOfNames",
                          {"cn": cn, "member": [f"uid={m},{PEOPLE}" for m in members]})
            assert ok, conn.result

    def set_members(self, cn: str, members: list[str]) -> None:
        """Make ``members`` (user names, at least one) the members of group ``cn``."""
        import ldap3

        server = ldap3.Server(self.url, connect_timeout=2, get_info=ldap3.NONE)
        with ldap3.Connection(server, ROOT_DN, ROOT_PASSWORD, auto_bind=True) as conn:
            ok = conn.modify(f"cn={cn},{GROUPS}", {"member": [
                (ldap3.MODIFY_REPLACE, [f"uid={m},{PEOPLE}" for m in members])]})
            assert ok, conn.result

    def delete_group(self, cn: str) -> None:
        import ldap3

        server = ldap3.Server(self.url, connect_timeout=2, get_info=ldap3.NONE)
        with ldap3.Connection(server, ROOT_DN, ROOT_PASSWORD, auto_bind=True) as conn:
            assert conn.delete(f"cn={cn},{GROUPS}"), conn.result


def slapd_missing() -> str:
    """Why slapd cannot run here, or ``""``."""
    for path in (SLAPD, SLAPADD, SCHEMA_DIR / "nis.schema", MODULE_DIR / "back_mdb.la"):
        if not path.exists():
            return f"{path} is missing (scripts/install-test-deps.sh installs slapd)"
    return ""


def make_certificates(directory: Path) -> Path | None:
    """A CA (``ca.pem``) and a certificate it signed for localhost and 127.0.0.1
    (``server.pem``, ``server.key``) in ``directory``; the CA's path, or None without
    openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (directory / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    for command in (
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=tunehouse test CA"],
        ["req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext"],
    ):
        done = subprocess.run([openssl, *command], cwd=directory, capture_output=True,
                              text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(command)} failed:\n{done.stderr}")
    return directory / "ca.pem"


@contextmanager
def running_slapd(directory: Path) -> Iterator[SlapdProcess]:
    """A slapd serving the test directory from ``directory`` until the block ends."""
    if (directory / "data").exists():
        shutil.rmtree(directory / "data")
    (directory / "data").mkdir(parents=True)
    ca_file = make_certificates(Path(tempfile.mkdtemp(dir=directory)))
    tls = ""
    if ca_file is not None:
        tls = (f"TLSCACertificateFile {ca_file}\n"
               f"TLSCertificateFile {ca_file.parent / 'server.pem'}\n"
               f"TLSCertificateKeyFile {ca_file.parent / 'server.key'}\n")
    conf = directory / "slapd.conf"
    conf.write_text(CONF.format(schema=SCHEMA_DIR, modules=MODULE_DIR, dir=directory,
                                suffix=SUFFIX, root_dn=ROOT_DN, root_password=ROOT_PASSWORD,
                                tls=tls))
    ldif = directory / "data.ldif"
    ldif.write_text(directory_ldif())
    loaded = subprocess.run([str(SLAPADD), "-f", str(conf), "-l", str(ldif)],
                            capture_output=True, text=True, timeout=60)
    if loaded.returncode != 0:
        raise RuntimeError(f"slapadd failed ({loaded.returncode}):\n{loaded.stderr}")
    port = free_port()
    slapd = SlapdProcess(url=f"ldap://127.0.0.1:{port}", port=port, directory=directory,
                         ca_file=ca_file)
    if ca_file is not None:
        slapd.ldaps_url = f"ldaps://localhost:{free_port()}"
    slapd.start()
    try:
        slapd.add_group("ml-readers", ["alice", "carol"])
        yield slapd
    finally:
        slapd.stop()
