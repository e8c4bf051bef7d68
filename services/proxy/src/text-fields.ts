import { createAnalyzer } from '@kite/analyzer';
import { KiteError, clip } from '@kite/common';

/**
 * The VarChar type params for text analysis (Milvus 2.5+): `enable_analyzer`, `analyzer_params` (JSON text, as the
 * SDKs send it) and `enable_match`. Checked at CreateCollection so that a bad analyzer fails there, naming the field,
 * rather than at the first insert or filter. The params are kept as given (DescribeCollection returns them as
 * Milvus does), with the flags written as "true"/"false".
 */
const TEXT_PARAMS = ['enable_analyzer', 'enable_match', 'analyzer_params', 'multi_analyzer_params'] as const;

/** Go's strconv.ParseBool spellings, which Milvus accepts for these flags. */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

function flag(field: string, key: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new KiteError('ParameterInvalid', `field "${field}": type param ${key} must be true or false, got "${clip(value, 64)}"`);
}

/** Validates and normalises a field's text-analysis type params in place (`params` are its type_params). */
export function checkTextParams(field: string, dataType: string, params: Record<string, string>): void {
  const given = TEXT_PARAMS.filter((k) => params[k] !== undefined);
  if (given.length === 0) return;
  if (dataType !== 'VarChar') {
    throw new KiteError('ParameterInvalid', `field "${field}": ${given.join(', ')} apply to VarChar fields only, not ${dataType}; remove them or make the field VarChar`);
  }
  if (params.multi_analyzer_params !== undefined) {
    throw new KiteError('ParameterInvalid', `field "${field}": multi_analyzer_params is not supported by Kite; give one analyzer in analyzer_params`);
  }
  const analyzer = flag(field, 'enable_analyzer', params.enable_analyzer);
  const match = flag(field, 'enable_match', params.enable_match);
  if (params.enable_analyzer !== undefined) params.enable_analyzer = String(analyzer);
  if (params.enable_match !== undefined) params.enable_match = String(match);
  if (match && !analyzer) {
    throw new KiteError('ParameterInvalid', `field "${field}" which has enable_match must also enable_analyzer: set enable_analyzer=True on it`);
  }
  if (params.analyzer_params !== undefined) {
    try {
      createAnalyzer(params.analyzer_params);
    } catch (e) {
      throw new KiteError('ParameterInvalid', `field "${field}": ${(e as Error).message}`);
    }
  }
}
