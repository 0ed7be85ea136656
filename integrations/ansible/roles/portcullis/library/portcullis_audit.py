#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Runs `portcullis audit` on the host: the live firewall against the
# policy. Changes nothing, so it runs in check mode too; it reports
# "changed" when the host drifted (audit exit 1), which in check mode reads
# as "an apply would change this host", and gives audit's text report as
# the diff that `--diff` shows.

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
module: portcullis_audit
short_description: Compare a host's live firewall with a portcullis profile
options:
  command: {type: list, elements: str, required: true, description: argv that runs portcullis}
  profile: {type: path, required: true}
  catalog: {type: path, required: false}
  target: {type: str, default: nftables}
  role: {type: str, required: false, description: the host's role, for a catalog with several}
  label: {type: str, required: false, description: names the host in the diff}
'''


def main():
    module = AnsibleModule(
        argument_spec=dict(
            command=dict(type='list', elements='str', required=True),
            profile=dict(type='path', required=True),
            catalog=dict(type='path', required=False, default=None),
            target=dict(type='str', default='nftables'),
            role=dict(type='str', required=False, default=None),
            label=dict(type='str', required=False, default=None),
        ),
        supports_check_mode=True,
    )
    p = module.params
    argv = list(p['command']) + ['audit', '--profile', p['profile'], '--target', p['target'], '--format', 'text']
    if p['catalog']:
        argv += ['--catalog', p['catalog']]
    if p['role']:
        argv += ['--role', p['role']]
    # Argv, never a shell: paths stay arguments.
    rc, out, err = module.run_command(argv, environ_update={'NO_COLOR': '1'})
    if rc not in (0, 1):
        module.fail_json(msg='portcullis audit failed (exit %d): %s' % (rc, err.strip() or out.strip()), rc=rc, stdout=out, stderr=err, cmd=argv)
    drifted = rc == 1
    # Not `rc`: Ansible fails any result whose rc is not 0, and drift is a finding.
    result = dict(changed=drifted, in_sync=not drifted, audit_exit=rc, stdout=out, stderr=err, cmd=argv)
    if drifted:
        title = 'portcullis audit%s (%s): what an apply would change\n' % (' of ' + p['label'] if p['label'] else '', p['target'])
        result['diff'] = dict(prepared=title + out)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
