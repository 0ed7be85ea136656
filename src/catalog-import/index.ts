// `portcullis catalog import`: markdown port tables -> catalog YAML.
export { importCatalog, importSummary, columnKey } from './import';
export { formatImportDiagnostics, formatImportErrors } from './report';
export type { ImportOptions, ImportResult, ImportChange } from './import';
export { DEFAULT_PHRASES, readPhrase, readPortCell, readProtocolCell, readIcmpTypesCell, phraseTable, normalizePhrase } from './phrases';
export { parseTables } from './markdown';
