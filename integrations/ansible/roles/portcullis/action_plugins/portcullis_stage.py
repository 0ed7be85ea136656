# -*- coding: utf-8 -*-
# Controller side of portcullis_stage: reads `sources` (files, or
# directories walked recursively) on the controller and runs the module
# once with their contents, so staging costs one round trip per host.

import base64
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        files = {}
        for item in args.get('sources') or []:
            src, name = item['src'], item['dest']
            if os.path.isdir(src):
                for root, _dirs, names in os.walk(src):
                    for n in names:
                        full = os.path.join(root, n)
                        files[os.path.join(name, os.path.relpath(full, src))] = full
            elif os.path.isfile(src):
                files[name] = src
            else:
                raise AnsibleActionFail('portcullis_stage: no such file or directory on the controller: %s' % src)
        contents = {}
        for rel, full in files.items():
            with open(full, 'rb') as f:
                contents[rel] = base64.b64encode(f.read()).decode('ascii')
        result.update(self._execute_module(module_name='portcullis_stage', module_args=dict(dest=args['dest'], files=contents), task_vars=task_vars))
        return result
