// `portcullis lint`: findings, silencing comments, text and SARIF output.
export { lint, counts, summary } from './lint';
export type { Finding, LintOptions, LintReport, Location } from './lint';
export { formatText, formatSarif, toSarif, artifactUri, SARIF_SCHEMA_URI } from './format';
export { RULES, BROAD_V4_PREFIX, BROAD_V6_PREFIX, PRIVILEGED_GROUPS } from './rules';
export type { Level, LintRule } from './rules';
