#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Follows the `portcullis apply` the role started in the background on this
# host (tasks/apply.yml wraps it so it leaves PREFIX.out, PREFIX.err and,
# when it ends, PREFIX.rc). One of three waits, none longer than `timeout`:
#
#   live      until the apply waits for its confirmation (its confirmation
#             socket accepts a connection: the new rules are live), or it
#             has ended without waiting (unchanged, refused). The
#             controller reconnects only after this, so the new connection
#             really goes through the new rules.
#   confirmed `portcullis apply --confirm` until the apply takes it, then
#             until the apply ends; its outcome.
#   ended     until the apply ends (it rolls back by itself when nobody
#             confirms); its outcome.
#
# The outcome: the apply's exit code and its --json report; `changed` is
# the report's (the host's firewall state differs from before), and exit
# codes other than 0 fail, except with wait_for=ended.

import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
module: portcullis_apply_wait
short_description: Wait for, confirm, and report a background portcullis apply
options:
  command: {type: list, elements: str, required: true, description: argv that runs portcullis}
  prefix: {type: path, required: true, description: path prefix of the apply's .rc/.out/.err files}
  wait_for: {type: str, choices: [live, confirmed, ended], required: true}
  timeout: {type: float, required: true}
  run_dir: {type: path, default: /run/portcullis, description: where apply keeps its confirmation socket}
'''


def read(path):
    try:
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return None


def waiting(run_dir):
    """Whether an apply in this network namespace waits for a confirmation:
    apply names its socket after the namespace's inode, and only a live
    apply accepts on it (a stale file refuses)."""
    path = os.path.join(run_dir, 'apply-%d.sock' % os.stat('/proc/self/ns/net').st_ino)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            command=dict(type='list', elements='str', required=True),
            prefix=dict(type='path', required=True),
            wait_for=dict(type='str', choices=['live', 'confirmed', 'ended'], required=True),
            timeout=dict(type='float', required=True),
            run_dir=dict(type='path', default='/run/portcullis'),
        ),
        supports_check_mode=False,
    )
    p = module.params
    deadline = time.monotonic() + p['timeout']
    rc_file = p['prefix'] + '.rc'

    def ended():
        return os.path.exists(rc_file)

    def outcome(confirmed_here):
        rc = int((read(rc_file) or '-1').strip() or -1)
        out = (read(p['prefix'] + '.out') or '').strip()
        err = (read(p['prefix'] + '.err') or '').strip()
        try:
            report = json.loads(out.splitlines()[-1]) if out else {}
        except ValueError:
            report = {}
        result = dict(changed=bool(report.get('changed')), waiting=False, apply_exit=rc, report=report, stdout=out, stderr=err, confirmed_here=confirmed_here)
        if rc != 0 and p['wait_for'] != 'ended':
            why = 'not confirmed; rolled back to the previous rules' if report.get('rolled_back') else 'refused or failed; nothing changed' if rc == 2 else 'failed'
            module.fail_json(msg='portcullis apply exited %d (%s): %s' % (rc, why, err.splitlines()[-1] if err else ''), **result)
        module.exit_json(**result)

    def past_deadline(what):
        if time.monotonic() > deadline:
            module.fail_json(msg='portcullis apply: %s within %g s' % (what, p['timeout']), stderr=(read(p['prefix'] + '.err') or '').strip())

    if p['wait_for'] == 'live':
        while True:
            if waiting(p['run_dir']):
                module.exit_json(changed=False, waiting=True, confirmed_here=False)
            if ended():
                # Unchanged (exit 0) or refused (exit 2): no need to reconnect to know.
                outcome(False)
            past_deadline('neither waiting for a confirmation nor ended')
            time.sleep(0.1)

    confirmed_here = False
    if p['wait_for'] == 'confirmed':
        argv = list(p['command']) + ['apply', '--confirm']
        while not ended():
            rc, out, err = module.run_command(argv)
            if rc == 0:
                confirmed_here = True
                break
            past_deadline('no apply took the confirmation')
            time.sleep(0.2)
    while not ended():
        past_deadline('did not end')
        time.sleep(0.1)
    outcome(confirmed_here)


if __name__ == '__main__':
    main()
