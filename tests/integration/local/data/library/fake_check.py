# Copyright (c) opsbook.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only check module: returns the ``checks`` list it is given, or fails with ``fail_msg``."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={"checks": {"type": "list", "elements": "dict", "default": []}, "fail_msg": {"type": "str"}},
        supports_check_mode=True,
    )
    if module.params["fail_msg"]:
        module.fail_json(msg=module.params["fail_msg"])
    checks = module.params["checks"]
    module.exit_json(changed=False, checks=checks, summary={"total": len(checks)})


if __name__ == "__main__":
    main()
