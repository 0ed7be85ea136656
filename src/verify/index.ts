// `portcullis verify`: the rules proven with real packets in network namespaces.
export { verify, verifyCommand, verifyTarget } from './run';
export type { VerifyArgs, TargetReport, Mismatch } from './run';
export { buildPlan, planContext, samplePorts } from './matrix';
export type { Plan, PlanContext, Case, Peer } from './matrix';
export { LOAD_COMMANDS, HOST_TARGETS, startFirewalld } from './targets';
export type { FirewalldDaemon } from './targets';
