// The placement policies by name. The daemon picks one here once, by --policy, and gives the same Policy to the
// answers (AdvisorService) and to the rebalancer's planner: the planner once chose its rules from a flag the daemon
// never set, so `--policy numad` answered with numad's walk but rebalanced with numadvisor's.
import { numadPolicy } from './numad.js';
import { numadvisorPolicy } from './numadvisor.js';
import type { Advice, PlacementRequest, Policy, PolicyNode } from './types.js';

/** numadvisor first: it is the daemon's default. */
export const POLICIES = ['numadvisor', 'numad'] as const;
export type PolicyName = (typeof POLICIES)[number];
export const DEFAULT_POLICY: PolicyName = 'numadvisor';

/** Each name maps to the policy that carries that name (checked at compile time). */
const REGISTRY = { numadvisor: numadvisorPolicy, numad: numadPolicy } as const satisfies { readonly [N in PolicyName]: Policy & { readonly name: N } };

export function policyNamed(name: PolicyName): Policy {
  return REGISTRY[name];
}

/** One answer by the named policy (the CLI's local answers). */
export function advise(name: PolicyName, nodes: readonly PolicyNode[], req: PlacementRequest): Advice {
  return policyNamed(name).advise(nodes, req);
}
