# Managed by the opsbook.stack.postgresql role.
"""Validate a candidate conf.d drop-in for a Debian PostgreSQL cluster.

Used as `validate:` by the role's template tasks. It builds a throw-away copy
of the cluster's configuration (postgresql.conf, the other conf.d files and the
candidate under its final name), then asks the real server binary to parse it
with `postgres --config-file=<copy> -C data_directory`, run as the postgres
user. The server reads the whole configuration exactly as at start-up, so an
unknown parameter, a bad value or unit, or a syntax error makes it exit
non-zero and the candidate is rejected before it replaces the live file.
`-C` is safe while the cluster is running: it exits before taking any lock.
"""

import argparse
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", required=True, help="PostgreSQL major version, e.g. 15")
    parser.add_argument("--cluster", default="main", help="cluster name (default: main)")
    parser.add_argument("--name", required=True, help="file name of the drop-in inside conf.d")
    parser.add_argument("candidate", help="the candidate file to check")
    args = parser.parse_args()

    confdir = os.path.join("/etc/postgresql", args.version, args.cluster)
    postgres = os.path.join("/usr/lib/postgresql", args.version, "bin", "postgres")
    user = pwd.getpwnam("postgres")

    tmp = tempfile.mkdtemp(prefix="opsbook-pgconf-")
    try:
        shutil.copy(os.path.join(confdir, "postgresql.conf"), tmp)
        os.mkdir(os.path.join(tmp, "conf.d"))
        for path in sorted(glob.glob(os.path.join(confdir, "conf.d", "*.conf"))):
            if os.path.basename(path) != args.name:
                shutil.copy(path, os.path.join(tmp, "conf.d"))
        shutil.copy(args.candidate, os.path.join(tmp, "conf.d", args.name))
        for root, dirs, files in os.walk(tmp):
            for entry in [root] + [os.path.join(root, f) for f in files]:
                os.chown(entry, user.pw_uid, user.pw_gid)
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", postgres,
             "--config-file=" + os.path.join(tmp, "postgresql.conf"), "-C", "data_directory"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if result.returncode != 0:
        sys.stderr.write(result.stderr.replace(tmp, confdir))
        sys.stderr.write("%s: %s rejected by %s -C\n" % (sys.argv[0], args.name, postgres))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
