import { KiteError, clip } from '@kite/common';
import type { FieldSchema as WireFieldSchema } from '@kite/proto';
import type { FieldSchema } from '@kite/rpc';
import { SCALAR_TYPES, defaultFromWire, isVectorType, type CollectionMeta, type DataTypeName } from '@kite/segment';
import { checkName } from './schema';

const TYPES: readonly string[] = SCALAR_TYPES;

/**
 * Checks a field sent by AddCollectionField with Milvus's rules and messages (proxy addCollectionFieldTask): no vector,
 * primary-key or partition-key field, nullable, a supported scalar type, a fresh name; VarChar needs max_length; a
 * default value is checked against the type as in CreateCollection. Returns the field for the coordinator.
 */
export function addedField(c: CollectionMeta, f: WireFieldSchema): FieldSchema {
  const name = f.name ?? '';
  checkName('field', name);
  const type = String(f.data_type);
  if (isVectorType(type as DataTypeName)) throw new KiteError('ParameterInvalid', `not support to add vector field, field name = ${name}`);
  if (f.is_primary_key) throw new KiteError('ParameterInvalid', `not support to add pk field, field name = ${name}`);
  if (!f.nullable) throw new KiteError('ParameterInvalid', `added field must be nullable, please check it, field name = ${name}`);
  if (f.autoID) throw new KiteError('ParameterInvalid', `only primary field can speficy AutoID with true, field name = ${name}`);
  if (f.is_partition_key) throw new KiteError('ParameterInvalid', `not support to add partition key field, field name = ${name}`);
  if (!TYPES.includes(type)) {
    throw new KiteError('ParameterInvalid', `field "${clip(name, 128)}": data type ${type} cannot be added to a collection in Kite; add one of ${SCALAR_TYPES.join(', ')}`);
  }
  if (c.fields.some((x) => x.name === name && !x.isDynamic)) throw new KiteError('ParameterInvalid', `duplicate field name: ${name}`);
  const params = Object.fromEntries((f.type_params ?? []).map((p) => [p.key, p.value]));
  if (type === 'VarChar') {
    const max = Number(params.max_length);
    if (!Number.isInteger(max) || max < 1 || max > 65535) {
      throw new KiteError('ParameterInvalid', `field "${name}": VarChar needs type param max_length between 1 and 65535, got ${params.max_length ?? 'none'}`);
    }
  }
  const dataType = type as DataTypeName;
  const dv = defaultFromWire({ name, dataType, isPrimaryKey: false, typeParams: params }, f.default_value as { data?: string } | null);
  return {
    field_id: 0, name, data_type: dataType, is_primary_key: false, auto_id: false, description: f.description ?? '',
    type_params: params, is_dynamic: false, is_partition_key: false, nullable: true,
    ...(f.is_clustering_key ? { is_clustering_key: true } : {}),
    ...(dv === undefined ? {} : { default_value: JSON.stringify(dv) }),
  };
}
