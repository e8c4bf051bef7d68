import type { SchemaInfo } from '@kite/expr';
import type { CollectionMeta } from '@kite/segment';

export function schemaInfo(c: CollectionMeta): SchemaInfo {
  return {
    fields: c.fields.filter((f) => !f.isDynamic).map((f) => ({ name: f.name, type: f.dataType, isPrimaryKey: f.isPrimaryKey, nullable: f.nullable, typeParams: f.typeParams, ...(f.elementType ? { elementType: f.elementType } : {}) })),
    enableDynamicField: c.enableDynamicField,
  };
}
