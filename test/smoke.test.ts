import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fixture, runCli } from './helpers/cli';

test('compile --stdout of the example profile prints an nftables ruleset', () => {
  const r = runCli(['compile', '--profile', fixture('profiles', 'example.yaml'), '--target', 'nftables', '--stdout']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^table inet portcullis \{$/m);
  assert.match(r.stdout, /ip saddr @admins_v4 tcp dport \{ 22,/);
});

test.run();
