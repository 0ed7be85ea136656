#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Makes `dest` hold exactly the given files (the profile, the catalog, the
# compiled tree), writing only those that differ: one module run instead
# of a copy per file. The action plugin of the same name reads the files on
# the controller. Sibling directories named like a staging key (40 hex
# digits) are older stagings of this role and are removed.

import base64
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
module: portcullis_stage
short_description: Put a set of files into a directory, exactly
options:
  dest: {type: path, required: true}
  files: {type: dict, required: true, description: relative path -> base64 content}
'''

KEY = re.compile(r'^[0-9a-f]{40}$')


def main():
    module = AnsibleModule(
        argument_spec=dict(dest=dict(type='path', required=True), files=dict(type='dict', required=True)),
        supports_check_mode=True,
    )
    dest = os.path.realpath(module.params['dest'])
    files = {}
    for rel, b64 in module.params['files'].items():
        norm = os.path.normpath(rel)
        if norm.startswith('..') or os.path.isabs(norm):
            module.fail_json(msg='refusing a path outside dest: %r' % rel)
        files[norm] = base64.b64decode(b64)
    written, removed = [], []
    os.makedirs(dest, mode=0o700, exist_ok=True)
    for rel, data in sorted(files.items()):
        path = os.path.join(dest, rel)
        try:
            with open(path, 'rb') as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix='.stage-')
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
        written.append(rel)
    for root, dirs, names in os.walk(dest, topdown=False):
        for name in names:
            rel = os.path.relpath(os.path.join(root, name), dest)
            if rel not in files:
                os.remove(os.path.join(root, name))
                removed.append(rel)
        for name in dirs:
            full = os.path.join(root, name)
            if not os.listdir(full):
                os.rmdir(full)
    parent = os.path.dirname(dest)
    for name in os.listdir(parent):
        full = os.path.join(parent, name)
        if KEY.match(name) and full != dest and os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
            removed.append(full)
    module.exit_json(changed=bool(written or removed), written=written, removed=removed)


if __name__ == '__main__':
    main()
