import type { CollectionMeta, FieldMeta } from '@kite/segment';

/** A field of a test collection: the attributes tests vary, the rest as a plain (non-key, non-null) field. */
export function testField(fieldID: number, name: string, dataType: FieldMeta['dataType'], typeParams: Record<string, string> = {}, isPrimaryKey = false): FieldMeta {
  return { fieldID, name, dataType, isPrimaryKey, autoID: false, description: '', typeParams, isDynamic: false, isPartitionKey: false, nullable: false };
}

/**
 * The collection the query node's unit tests run over: an Int64 primary key `id` (field 100), a FloatVector `vector`
 * of `dim` (field 101) and any `extra` fields, one shard on topic `t`, Strong consistency.
 */
export function testCollection(name: string, dim: number, extra: FieldMeta[] = []): CollectionMeta {
  return {
    collectionID: 1,
    name,
    description: '',
    fields: [testField(100, 'id', 'Int64', {}, true), testField(101, 'vector', 'FloatVector', { dim: String(dim) }), ...extra],
    enableDynamicField: false,
    shardsNum: 1,
    topic: 't',
    partitions: [],
    indexes: [],
    consistencyLevel: 'Strong',
    properties: {},
    createdTs: '0',
  };
}
