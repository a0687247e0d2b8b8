"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test bootstraps pip in its sanity virtual environments with a
get-pip.py fetched from ci-files.testing.ansible.com. Where that host is not
reachable (only the package index is), this script does the same job: it
bootstraps pip with the interpreter's own ensurepip, then installs the pip
(and setuptools / wheel) versions ansible-test asked for from the index.
`make sanity` places it in ansible-test's cache only when no real script is
cached there.
"""

from __future__ import annotations

import subprocess
import sys


def main() -> None:
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    # ensurepip in a child process: it blanks pip's configuration in its own
    # environment, which must not leak into the install below.
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"], stdout=subprocess.DEVNULL)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", *args])


if __name__ == "__main__":
    main()
