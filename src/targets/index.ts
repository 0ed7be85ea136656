// The backend registry: every target the compiler can emit.

import type { Backend, TargetName } from './base';
import { azureNsgBackend } from './azure-nsg/render';
import { firewalldBackend } from './firewalld/render';
import { iptablesBackend } from './iptables/render';
import { nftablesBackend } from './nftables/render';
import { terraformAwsBackend } from './terraform-aws/render';

export const ALL_TARGETS: TargetName[] = ['nftables', 'iptables', 'firewalld', 'terraform-aws', 'azure-nsg'];

const backends = new Map<TargetName, Backend>([
  [nftablesBackend.name, nftablesBackend],
  [iptablesBackend.name, iptablesBackend],
  [azureNsgBackend.name, azureNsgBackend],
  [firewalldBackend.name, firewalldBackend],
  [terraformAwsBackend.name, terraformAwsBackend],
]);

export function backendFor(name: TargetName): Backend | undefined {
  return backends.get(name);
}

/** Targets with a backend, in the contract's order. */
export function availableTargets(): TargetName[] {
  return ALL_TARGETS.filter((t) => backends.has(t));
}
