r"""x509 logins' distinguished names (DNs): the one place a DN is read from a certificate
and written as text, for the CLI (``oneuser create|chauth --x509 --cert``) and the
servers (a client certificate a TLS proxy verified) alike, so both make the same text.

The form is OpenSSL's one-line form as OpenNebula stored it (Ruby's
``OpenSSL::X509::Name#to_s``): ``/C=ES/O=ONE/OU=DEV/CN=clouduser``, the attributes in the
certificate's order, OpenSSL's short names, the values of a multi-valued RDN joined by
``+``, every byte outside printable ASCII written ``\xHH`` as OpenSSL writes it (José is
``Jos\xC3\xA9``), and every space removed ("remember, spaces are removed from DNs", the
guide says).
An x509 user's PASSWORD holds its DN, or several separated by ``|`` (one user, several
certificates, as OpenNebula's x509 driver allowed).

OpenNebula never checked the certificate itself: the proxy in front of the server
verifies it against the CA (``roles/tls_proxy``); this module only reads names.
"""

from __future__ import annotations

from ansible_collections.onekit.cloud.plugins.module_utils.core import pool
from ansible_collections.onekit.cloud.plugins.module_utils.core.errors import InvalidInput

MAX_DN = 1024  # characters of one DN; a user's DN list holds at most MAX_DNS of them
MAX_DNS = 16
MAX_PEM = 64 * 1024  # bytes of a PEM certificate (a chain's first certificate is read)
SEPARATOR = "|"
# what a certificate's attribute value may not hold: the one-line form writes values as
# they are, so "/" and "+" would start another attribute, "|" another DN, "\\" an escape
_AMBIGUOUS = ("/", "+", "|", "\\")

# OpenSSL's short names (OBJ_nid2sn) of the attributes certificates use; any other is
# written as its dotted OID, as OpenSSL writes an attribute it does not know.
_SHORT_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
}


def normalize_dn(text: object, field: str = "DN") -> str:
    """A DN as given by an admin (``oneuser chauth bob x509 "/C=ES/O=ONE/CN=bob"``), its
    spaces removed; InvalidInput naming ``field`` and the form expected when it is no DN."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field} must be text like /C=ES/O=ONE/CN=clouduser")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidInput(f"{field} must not contain control characters")
    dn = _escaped("".join(text.split()))
    if not dn.startswith("/") or "=" not in dn or len(dn) > MAX_DN or SEPARATOR in dn:
        raise InvalidInput(
            f"{field} {dn[:80]!r} is not a DN: write it as OpenSSL does, "
            f"/C=ES/O=ONE/OU=DEV/CN=clouduser (at most {MAX_DN} characters, no '|'), or "
            "give the user's certificate (--x509 --cert FILE)"
        )
    return dn


def _escaped(text: str) -> str:
    """Non-ASCII characters as OpenSSL's one-line form writes them: \\xHH per UTF-8 byte."""
    if text.isascii():
        return text
    return "".join(
        c if c.isascii() else "".join(f"\\x{b:02X}" for b in c.encode("utf-8")) for c in text
    )


def normalize_dns(text: object, field: str = "DN") -> str:
    """An x509 user's PASSWORD: one DN, or several separated by ``|``, each normalized."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{field} is required: /C=ES/O=ONE/OU=DEV/CN=clouduser")
    parts = text.split(SEPARATOR)
    if len(parts) > MAX_DNS:
        raise InvalidInput(f"{field} lists {len(parts)} DNs; at most {MAX_DNS}")
    return SEPARATOR.join(normalize_dn(part, field) for part in parts)


def holds(stored: str, dn: str) -> bool:
    """Whether an x509 user's PASSWORD (``normalize_dns``'s text) lists ``dn``."""
    return dn in stored.split(SEPARATOR)


def dn_of_pem(pem: bytes | str, field: str = "certificate") -> str:
    """The subject DN of a PEM certificate (the first one of a chain), in OpenSSL's form
    with spaces removed. InvalidInput when it is no PEM certificate."""
    # cryptography is ansible-core's own dependency; imported here so that a module's
    # start-up does not pay for it unless it reads a certificate
    from cryptography import x509

    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > MAX_PEM:
        raise InvalidInput(f"{field} is over {MAX_PEM} bytes: give one PEM certificate")
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise InvalidInput(
            f"{field} is not a PEM certificate (-----BEGIN CERTIFICATE-----): give the "
            "user's certificate, as openssl x509 writes it"
        ) from None
    return format_name(certificate.subject)


def format_name(name: object) -> str:
    """A ``cryptography.x509.Name`` in OpenSSL's one-line form, spaces removed.
    InvalidInput for a value the form cannot carry unambiguously (``_AMBIGUOUS``): a CA
    that lets a user choose their O could otherwise hand out another user's DN. Spaces
    are removed as the guide says, so ``CN=ali ce`` is ``alice``'s DN: the CA must not
    let users choose their CN (it could as well issue ``alice``)."""
    parts = []
    for rdn in name.rdns:  # type: ignore[attr-defined]
        values = []
        for attribute in rdn:
            oid = attribute.oid.dotted_string
            value = attribute.value
            text = value if isinstance(value, str) else value.hex()
            short = _SHORT_NAMES.get(oid, oid)
            if any(c in text for c in _AMBIGUOUS):
                raise InvalidInput(
                    f"the certificate's {short} {pool.shorten(text, 60)!r} holds one of "
                    f"{' '.join(_AMBIGUOUS)}, which OpenSSL's one-line form does not escape: "
                    "its DN could read as another's (O=ONE/CN=alice as /O=ONE/CN=alice); "
                    "issue the user a certificate without them"
                )
            values.append(f"{short}={text}")
        parts.append("+".join(values))
    return normalize_dn("/" + "/".join(parts), "the certificate's subject")
