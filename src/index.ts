// Public library API.
export { compile, load, render, builtinCatalogText, BUILTIN_CATALOG_NAME } from './compile';
export type { CompileOptions, CompileResult, InputText, OutputEntry, Loaded } from './compile';
export { CompileError, formatDiagnostic } from './diagnostics';
export type { Diagnostic, Position } from './diagnostics';
export type { IR, Rule, AddressSet, Provenance } from './ir/types';
export type { TargetName } from './backends/base';
export { writeOutputs, checkOutputs } from './output';
export { catalogSchema, profileSchema } from './load/schemas';
