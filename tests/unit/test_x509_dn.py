"""x509 DNs (``core.x509``): the text a certificate's subject becomes is OpenSSL's one-line
form with the spaces removed, the form OpenNebula's x509 users hold, so a DN an admin
copies from ``openssl x509 -subject -nameopt compat`` matches the certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ansible_collections.onekit.cloud.plugins.module_utils.core import x509
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput


def _certificate(tmp_path: Path, subject: str) -> tuple[str, str]:
    """A self-signed certificate of ``subject`` made by openssl; its PEM and the subject
    as openssl prints it in the one-line form."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-utf8", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-subj", subject, "-days", "1"],
        check=True, capture_output=True,
    )  # fmt: skip
    printed = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-nameopt", "compat"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return cert.read_text(), printed.strip().removeprefix("subject=")


@pytest.mark.parametrize(
    "subject",
    [
        "/C=ES/O=ONE/OU=DEV/CN=clouduser",
        "/C=ES/O=Open Nebula/CN=cloud user/emailAddress=cloud@example.org",
        "/DC=org/DC=example/UID=u1+CN=multi valued",
        "/CN=José Ñandú/O=ÖNE",
        "/CN={{ 7*7 }}/O=${HOME}",
    ],
)
def test_a_certificate_subject_is_openssls_one_line_form_without_spaces(tmp_path, subject):
    pem, printed = _certificate(tmp_path, subject)
    dn = x509.dn_of_pem(pem)
    assert dn == printed.replace(" ", "")
    assert x509.normalize_dn(printed) == dn  # the admin's copy of it matches
    assert x509.dn_of_pem(pem.encode()) == dn


def test_a_dn_typed_with_spaces_or_accents_is_kept_as_the_certificate_gives_it():
    assert (
        x509.normalize_dn("/C=ES/O=ONE/OU=DEV/CN=cloud user ") == "/C=ES/O=ONE/OU=DEV/CN=clouduser"
    )
    assert x509.normalize_dn("/CN=José") == "/CN=Jos\\xC3\\xA9"
    assert x509.normalize_dn("/CN={{ 7*7 }}") == "/CN={{7*7}}"  # data, never a template
    assert x509.normalize_dns("/CN=a | /CN=b") == "/CN=a|/CN=b"
    assert x509.holds("/CN=a|/CN=b", "/CN=b") and not x509.holds("/CN=a|/CN=b", "/CN=c")
    assert not x509.holds("/CN=ab", "/CN=a")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("CN=clouduser", "is not a DN"),
        ("/clouduser", "is not a DN"),
        ("/CN=a\x00b", "control characters"),
        ("/CN=" + "a" * 1100, "at most 1024"),
        (None, "must be text"),
    ],
)
def test_what_is_no_dn_is_refused_naming_the_field_and_the_form(text, said):
    with pytest.raises(InvalidInput, match=said) as err:
        x509.normalize_dn(text, "the user's DN")
    assert "the user's DN" in str(err.value)


def test_what_is_no_certificate_is_refused_saying_what_to_give():
    with pytest.raises(InvalidInput, match="not a PEM certificate"):
        x509.dn_of_pem("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(InvalidInput, match="over"):
        x509.dn_of_pem(b"x" * (x509.MAX_PEM + 1))
    with pytest.raises(InvalidInput, match="at most 16"):
        x509.normalize_dns("|".join(f"/CN={n}" for n in range(17)))


@pytest.mark.parametrize(
    ("subject", "field"),
    [
        ("/C=ES/O=ONE\\/CN=alice", "O"),  # would read as /C=ES/O=ONE/CN=alice
        ("/C=ES/CN=bob\\+O=ONE", "CN"),  # would read as a multi-valued RDN
        ("/CN=a|/CN=b", "CN"),  # would read as two DNs
        ("/CN=Jos\\\\xC3\\\\xA9", "CN"),  # would read as José's escaped bytes
    ],
)
def test_a_value_the_one_line_form_cannot_carry_is_refused(tmp_path, subject, field):
    pem, _printed = _certificate(tmp_path, subject)
    with pytest.raises(InvalidInput) as err:
        x509.dn_of_pem(pem)
    assert f"the certificate's {field} " in str(err.value)
    assert "could read as another's" in str(err.value)
