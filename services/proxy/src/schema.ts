import { KiteError, clip } from '@kite/common';
import { CONSISTENCY_LEVELS, type CollectionSchema, type CollectionSchemaOut, type ConsistencyLevel, type FieldSchemaOut, type KeyValuePair } from '@kite/proto';
import type { FieldSchema } from '@kite/rpc';
import { SCALAR_TYPES, checkNullable, dbOf, defaultFromWire, defaultToWire, isDenseType, isVectorType, type WireValueField, type CollectionMeta, type DataTypeName, type FieldMeta, type FunctionMeta } from '@kite/segment';
import { checkArrayField } from './array-fields';
import { checkFunctions, functionsToWire, isFunctionOutput } from './functions';
import { checkTextParams } from './text-fields';

const SUPPORTED: DataTypeName[] = [
  'Bool', 'Int8', 'Int16', 'Int32', 'Int64', 'Float', 'Double', 'VarChar', 'JSON', 'Array', 'FloatVector', 'Float16Vector', 'BFloat16Vector', 'Int8Vector', 'BinaryVector', 'SparseFloatVector',
];
const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;

export function checkName(what: string, name: string): void {
  if (!name) throw new KiteError('ParameterInvalid', `${what} name should not be empty`);
  if (!NAME_RE.test(name)) {
    throw new KiteError('ParameterInvalid', `invalid ${what} name "${clip(name, 128)}": the first character must be a letter or underscore, the rest letters, digits or underscores, at most 255`);
  }
}

/**
 * Collection properties Kite checks: malformed values of the properties Milvus defines are refused by name. A
 * collection TTL hides rows older than it from every read (the query nodes apply it, see services/querynode).
 */
export function checkProperties(props: Record<string, string>): void {
  const ttl = props['collection.ttl.seconds'];
  if (ttl !== undefined) {
    if (!/^\s*\d+\s*$/.test(ttl)) {
      throw new KiteError('ParameterInvalid', `collection.ttl.seconds must be a whole number of seconds >= 0, got "${clip(ttl, 64)}"`);
    }
  }
}

const kv = (list: readonly KeyValuePair[] | undefined): Record<string, string> =>
  Object.fromEntries((list ?? []).map((p) => [p.key, p.value]));

/** Validates a public CollectionSchema and turns it into Kite's field list (field ids from 100, `$meta` last). */
export function schemaToFields(schema: CollectionSchema, collectionName: string): { fields: FieldSchema[]; dynamic: boolean; description: string; functions: FunctionMeta[] } {
  if (schema.name && schema.name !== collectionName) {
    throw new KiteError('IllegalSchema', `schema name "${schema.name}" differs from collection name "${collectionName}"`);
  }
  const inFields = schema.fields ?? [];
  if (inFields.length === 0) throw new KiteError('IllegalSchema', 'the schema has no fields; add a primary key field and a vector field');
  const seen = new Set<string>();
  const fields: FieldSchema[] = [];
  let pk = 0;
  let vectors = 0;
  const partitionKeys: string[] = [];
  const clusteringKeys: string[] = [];
  inFields.forEach((f, i) => {
    checkName('field', f.name);
    if (seen.has(f.name)) throw new KiteError('IllegalSchema', `duplicated field name "${f.name}"`);
    seen.add(f.name);
    const type = SUPPORTED.find((t) => t === f.data_type);
    if (type === undefined) {
      throw new KiteError('IllegalSchema', `field "${f.name}": data type ${String(f.data_type)} is not supported by Kite; use one of ${SUPPORTED.join(', ')}`);
    }
    const params = { ...kv(f.type_params), ...kv(f.index_params?.filter((p) => p.key === 'dim' || p.key === 'max_length' || p.key === 'max_capacity')) };
    const elementType = type === 'Array' ? checkArrayField(collectionName, f, params) : undefined;
    if (isDenseType(type)) {
      vectors++;
      const dim = Number(params.dim);
      if (!Number.isInteger(dim) || dim < 1 || dim > 32768) {
        throw new KiteError('IllegalSchema', `field "${f.name}": ${type} needs type param dim between 1 and 32768, got ${params.dim ?? 'none'}`);
      }
      if (f.is_partition_key) throw new KiteError('IllegalSchema', `field "${f.name}": a ${type} field cannot be the partition key; use a scalar field`);
    }
    if (type === 'BinaryVector') {
      vectors++;
      const dim = Number(params.dim);
      if (!Number.isInteger(dim) || dim < 8 || dim > 32768 * 8) {
        throw new KiteError('IllegalSchema', `field "${f.name}": BinaryVector needs type param dim (bits) between 8 and ${32768 * 8}, got ${params.dim ?? 'none'}`);
      }
      if (dim % 8 !== 0) throw new KiteError('IllegalSchema', `field "${f.name}": invalid dimension: ${dim}. should be multiple of 8.`);
      if (f.is_partition_key) throw new KiteError('IllegalSchema', `field "${f.name}": a BinaryVector field cannot be the partition key; use a scalar field`);
    }
    if (type === 'SparseFloatVector') {
      // A sparse vector has no fixed dimension: Milvus ignores a dim sent for it, and so does Kite.
      vectors++;
      delete params.dim;
      if (f.is_partition_key) throw new KiteError('IllegalSchema', `field "${f.name}": a SparseFloatVector field cannot be the partition key; use a scalar field`);
    }
    if (type === 'VarChar') {
      const max = Number(params.max_length);
      if (!Number.isInteger(max) || max < 1 || max > 65535) {
        throw new KiteError('IllegalSchema', `field "${f.name}": VarChar needs type param max_length between 1 and 65535, got ${params.max_length ?? 'none'}`);
      }
    }
    checkTextParams(f.name, type, params);
    // Milvus's checks and messages: nullable and default values on scalar fields other than the primary key.
    checkNullable({ name: f.name, dataType: type, isPrimaryKey: !!f.is_primary_key, isPartitionKey: !!f.is_partition_key, nullable: !!f.nullable }, isVectorType(type) ? 'vector' : SCALAR_TYPES.includes(type) ? 'scalar' : 'other');
    const defaultValue = defaultFromWire({ name: f.name, dataType: type, isPrimaryKey: !!f.is_primary_key, typeParams: params }, f.default_value as WireValueField | null);
    if (f.is_partition_key) {
      partitionKeys.push(f.name);
      // Milvus's checks and messages (proxy: validatePartitionKey).
      if (partitionKeys.length > 1) throw new KiteError('ParameterInvalid', `there are more than one partition key, field name = ${partitionKeys[0]}, ${f.name}`);
      if (f.is_primary_key) throw new KiteError('ParameterInvalid', `the partition key field must not be primary field, field name = ${f.name}`);
      if (type !== 'Int64' && type !== 'VarChar') throw new KiteError('ParameterInvalid', `the data type of partition key should be Int64 or VarChar, field name = ${f.name}, got ${type}`);
    }
    if (f.is_clustering_key) {
      clusteringKeys.push(f.name);
      if (clusteringKeys.length > 1) throw new KiteError('ParameterInvalid', `there are more than one clustering key, field name = ${clusteringKeys[0]}, ${f.name}`);
    }
    if (f.is_primary_key) {
      pk++;
      if (type !== 'Int64' && type !== 'VarChar') {
        throw new KiteError('IllegalSchema', `primary key field "${f.name}" must be Int64 or VarChar, not ${type}`);
      }
    }
    fields.push({
      field_id: 100 + i,
      name: f.name,
      data_type: type,
      is_primary_key: !!f.is_primary_key,
      auto_id: !!f.is_primary_key && !!(f.autoID || schema.autoID),
      description: f.description ?? '',
      type_params: params,
      is_dynamic: false,
      is_partition_key: !!f.is_partition_key,
      nullable: !!f.nullable,
      is_clustering_key: !!f.is_clustering_key,
      ...(elementType === undefined ? {} : { element_type: elementType }),
      ...(defaultValue === undefined ? {} : { default_value: JSON.stringify(defaultValue) }),
    });
  });
  if (pk !== 1) throw new KiteError('IllegalSchema', `a collection needs exactly one primary key field, found ${pk}`);
  if (vectors === 0) throw new KiteError('IllegalSchema', 'a collection needs at least one vector field (FloatVector, Float16Vector, BFloat16Vector, Int8Vector, BinaryVector or SparseFloatVector)');
  const functions = checkFunctions(schema, fields);
  const dynamic = !!schema.enable_dynamic_field;
  if (dynamic) {
    fields.push({
      field_id: 100 + fields.length, name: '$meta', data_type: 'JSON', is_primary_key: false, auto_id: false,
      description: 'dynamic field', type_params: {}, is_dynamic: true, is_partition_key: false, nullable: false,
    });
  }
  return { fields, dynamic, description: schema.description ?? '', functions };
}

export function fieldToWire(f: FieldMeta, functionOutput = false): FieldSchemaOut {
  return {
    fieldID: String(f.fieldID),
    name: f.name,
    is_primary_key: f.isPrimaryKey,
    description: f.description,
    data_type: f.dataType,
    type_params: Object.entries(f.typeParams).map(([key, value]) => ({ key, value })),
    index_params: [],
    autoID: f.autoID,
    state: 'FieldCreated',
    element_type: f.elementType ?? 'None',
    nullable: f.nullable,
    default_value: defaultToWire(f),
    is_dynamic: f.isDynamic,
    is_partition_key: f.isPartitionKey,
    is_clustering_key: !!f.isClusteringKey,
    is_function_output: functionOutput,
  };
}

export function collectionSchemaToWire(c: CollectionMeta): CollectionSchemaOut {
  return {
    name: c.name,
    description: c.description,
    autoID: c.fields.some((f) => f.autoID),
    fields: c.fields.filter((f) => !f.isDynamic).map((f) => fieldToWire(f, isFunctionOutput(c, f.name))),
    enable_dynamic_field: c.enableDynamicField,
    properties: [],
    functions: functionsToWire(c),
    dbName: dbOf(c),
  };
}

/** A stored consistency level as the wire's enum name (Bounded when the stored text is not one). */
export function consistencyLevelOf(level: string): ConsistencyLevel {
  return level in CONSISTENCY_LEVELS ? (level as ConsistencyLevel) : 'Bounded';
}
