#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Runs `portcullis apply` on this host in the background and follows it. It
# leaves PREFIX.out, PREFIX.err and, when it ends, PREFIX.rc. Three steps,
# none waiting longer than `timeout`:
#
#   start     starts the apply (detached: its own session, so closing the
#             SSH connection does not end it), then waits until it waits
#             for its confirmation (its confirmation socket accepts a
#             connection: the new rules are live), or until it has ended
#             without waiting (unchanged: its outcome; refused: fails). The
#             controller reconnects only after this, so the new connection
#             really goes through the new rules.
#   confirm   `portcullis apply --confirm` until the apply takes it, then
#             until the apply ends; its outcome.
#   finish    until the apply ends (it rolls back by itself when nobody
#             confirms); its outcome, never a failure.
#
# The outcome: the apply's exit code and its --json report; `changed` is
# the report's (the host's firewall state differs from before); exit codes
# other than 0 fail (except in finish).

import json
import os
import socket
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
module: portcullis_apply
short_description: Start, confirm, and report a background portcullis apply
options:
  command: {type: list, elements: str, required: true, description: argv that runs portcullis}
  apply_args: {type: list, elements: str, description: "arguments after `apply` (step start)"}
  prefix: {type: path, required: true, description: path prefix of the apply's .rc/.out/.err files}
  step: {type: str, choices: [start, confirm, finish], required: true}
  timeout: {type: float, required: true}
  run_dir: {type: path, default: /run/portcullis, description: where apply keeps its confirmation socket}
'''


# A constant script; the prefix and the apply's argv are its arguments.
WRAPPER = 'p=$1; shift; "$@" >"$p.out" 2>"$p.err"; rc=$?; echo "$rc" >"$p.rc.new"; mv "$p.rc.new" "$p.rc"'


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
            apply_args=dict(type='list', elements='str', default=[]),
            step=dict(type='str', choices=['start', 'confirm', 'finish'], required=True),
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
        # A rolled-back or refused apply leaves the firewall as it was.
        result = dict(changed=bool(report.get('changed')) and rc == 0, started=True, waiting=False, apply_exit=rc, report=report, stdout=out, stderr=err, confirmed_here=confirmed_here)
        if rc != 0 and p['step'] != 'finish':
            why = 'not confirmed; rolled back to the previous rules' if report.get('rolled_back') else 'refused or failed; nothing changed' if rc == 2 else 'failed'
            module.fail_json(msg='portcullis apply exited %d (%s): %s' % (rc, why, err.splitlines()[-1] if err else ''), **result)
        module.exit_json(**result)

    def past_deadline(what):
        if time.monotonic() > deadline:
            module.fail_json(msg='portcullis apply: %s within %g s' % (what, p['timeout']), started=True, stderr=(read(p['prefix'] + '.err') or '').strip())

    if p['step'] == 'start':
        for suffix in ('.rc', '.rc.new', '.out', '.err'):
            try:
                os.remove(p['prefix'] + suffix)
            except FileNotFoundError:
                pass
        argv = ['sh', '-c', WRAPPER, 'sh', p['prefix']] + list(p['command']) + ['apply'] + list(p['apply_args'])
        # Its own session and no inherited descriptors: the apply outlives
        # this module and the SSH session (it ignores SIGHUP too).
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
        while True:
            if waiting(p['run_dir']):
                module.exit_json(changed=False, started=True, waiting=True, confirmed_here=False)
            if ended():
                # Unchanged (exit 0) or refused (exit 2): no need to reconnect to know.
                outcome(False)
            past_deadline('neither waiting for a confirmation nor ended')
            time.sleep(0.1)

    confirmed_here = False
    if p['step'] == 'confirm':
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
