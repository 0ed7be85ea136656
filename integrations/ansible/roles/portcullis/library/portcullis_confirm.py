#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Confirms the `portcullis apply` waiting on this host. The role runs this
# over a new SSH connection, made after the new rules went live: that the
# connection got through is the proof that the controller can still reach
# the host, and only then does it confirm. It polls `portcullis apply
# --confirm` until the apply takes it (exit 0), or until the apply has
# ended on its own (its exit-code file appears: unchanged, refused, or
# rolled back); never longer than `timeout` seconds.

import os
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
module: portcullis_confirm
short_description: Confirm a waiting portcullis apply from a new connection
options:
  command: {type: list, elements: str, required: true, description: argv that runs portcullis}
  rc_file: {type: path, required: true, description: file the apply's wrapper writes its exit code to}
  timeout: {type: float, required: true}
'''


def main():
    module = AnsibleModule(
        argument_spec=dict(
            command=dict(type='list', elements='str', required=True),
            rc_file=dict(type='path', required=True),
            timeout=dict(type='float', required=True),
        ),
        supports_check_mode=False,
    )
    p = module.params
    argv = list(p['command']) + ['apply', '--confirm']
    deadline = time.monotonic() + p['timeout']
    tries = 0
    while True:
        tries += 1
        rc, out, err = module.run_command(argv)
        if rc == 0:
            module.exit_json(changed=False, confirmed=True, tries=tries, stderr=err)
        if rc != 2:
            module.fail_json(msg='portcullis apply --confirm failed (exit %d): %s' % (rc, err.strip()), rc=rc, stderr=err)
        # Exit 2: nothing waits (yet). Either the apply is still checking
        # and loading, or it has ended without waiting.
        if os.path.exists(p['rc_file']):
            module.exit_json(changed=False, confirmed=False, ended=True, tries=tries)
        if time.monotonic() > deadline:
            module.fail_json(msg='no portcullis apply was waiting for confirmation within %g s' % p['timeout'], tries=tries, stderr=err)
        time.sleep(0.25)


if __name__ == '__main__':
    main()
