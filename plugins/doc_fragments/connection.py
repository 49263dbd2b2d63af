"""Options every onekit module shares: which instance, and as whom."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  onekit_home:
    description:
      - The onekit instance directory on the managed host (its C(etc/oned.conf) names the store).
      - Falls back to the E(ONEKIT_HOME) environment variable, then C(~/.onekit).
    type: path
  api_url:
    description:
      - The endpoint of the onekit instance, C(http://<LISTEN_ADDRESS>:<PORT>) of its
        C(etc/oned.conf) (community.general's C(one_*) modules' option). Falls back to
        E(ONE_URL).
      - Only the instance on the managed host (O(onekit_home)) is served for now; a URL
        naming another endpoint fails with an explanation (remote zones come with the
        federation's core API).
    type: str
  api_username:
    description:
      - The user the operation runs as.
      - Falls back to E(ONE_USERNAME); with neither, the credentials come from the file named by
        E(ONE_AUTH), else C(<onekit_home>/one_auth) (written by C(onekit-server init)).
    type: str
  api_password:
    description:
      - The password of O(api_username). Falls back to E(ONE_PASSWORD).
    type: str
notes:
  - Runs the onekit core on the managed host itself, so that host needs onekit installed
    (for C(localhost), the Python that runs C(ansible-playbook)).
  - Every operation is one transaction; in check mode it runs and is rolled back, so the
    reported change is exactly what a real run of that task would do. A later task that
    needs what an earlier one would have created fails in check mode.
"""
