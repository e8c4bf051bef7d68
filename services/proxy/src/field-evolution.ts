import { KiteError, clip } from '@kite/common';
import { decodeMessage, type FieldSchema as WireFieldSchema } from '@kite/proto';
import { addedField } from './add-field';
import type { Handlers, ProxyCore } from './core';
import { checkAlteredCapacity } from './array-fields';
import { OK, kvs } from './status';

/** Field properties AlterCollectionField changes in Kite; Milvus also has others (refused by name). */
const ALTERABLE = ['max_length', 'max_capacity', 'mmap.enabled'] as const;

/**
 * AlterCollectionField (max_length of a VarChar field or of an Array field's VarChar elements, max_capacity of an
 * Array field, mmap.enabled; stored in the field's type params and described back) and AddCollectionField (a
 * nullable scalar field appended to a live collection, loaded or not: rows written before read NULL, or the
 * field's default value).
 */
export function fieldEvolutionHandlers(core: ProxyCore): Handlers {
  const { coordinator } = core;
  return {
    async AlterCollectionField(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      const f = c.fields.find((x) => x.name === r.field_name && !x.isDynamic);
      if (!f) throw new KiteError('ParameterInvalid', `field ${clip(String(r.field_name), 128)} does not exist in collection ${c.name}`);
      const props = kvs(r.properties);
      const deleteKeys = (r.delete_keys ?? []).filter((k) => k !== '');
      for (const k of [...Object.keys(props), ...deleteKeys]) {
        if (!(ALTERABLE as readonly string[]).includes(k)) {
          throw new KiteError('ParameterInvalid', `field property "${clip(k, 128)}" cannot be altered in Kite; alterable: ${ALTERABLE.join(', ')}`);
        }
      }
      if ('max_length' in props) {
        if (f.dataType !== 'VarChar' && !(f.dataType === 'Array' && f.elementType === 'VarChar')) {
          throw new KiteError('ParameterInvalid', `max_length can only be altered on a VarChar field or an Array of VarChar; ${f.name} is ${f.dataType}`);
        }
        const n = Number(props.max_length);
        if (!/^\s*\d+\s*$/.test(props.max_length!) || n < 1 || n > 65535) {
          throw new KiteError('ParameterInvalid', `max_length of field ${f.name} must be a whole number between 1 and 65535, got "${clip(props.max_length!, 32)}"`);
        }
        props.max_length = String(n);
      }
      if ('max_capacity' in props) checkAlteredCapacity(f, props);
      if (deleteKeys.includes('max_capacity')) throw new KiteError('ParameterInvalid', `max_capacity of Array field ${f.name} cannot be removed; set a new value instead`);
      if (deleteKeys.includes('max_length')) throw new KiteError('ParameterInvalid', `max_length of VarChar field ${f.name} cannot be removed; set a new value instead`);
      if ('mmap.enabled' in props && !/^(true|false)$/i.test(props['mmap.enabled']!)) {
        throw new KiteError('ParameterInvalid', `mmap.enabled must be true or false, got "${clip(props['mmap.enabled']!, 32)}"`);
      }
      await coordinator.api().AlterField({ collection_name: c.name, db_name: ctx.db, field_name: f.name, properties: props, delete_keys: deleteKeys }, coordinator.within(ctx.deadline));
      await core.synced(ctx);
      return OK;
    },

    async AddCollectionField(r, ctx) {
      const c = await core.collection(r.collection_name, ctx);
      let wf: WireFieldSchema;
      try {
        wf = decodeMessage<WireFieldSchema>('milvus.proto.schema.FieldSchema', r.schema ?? Buffer.alloc(0));
      } catch (e) {
        throw new KiteError('ParameterInvalid', `the schema of the field to add is not a FieldSchema message: ${clip((e as Error).message, 200)}`);
      }
      const field = addedField(c, wf);
      await coordinator.api().AddField({ collection_name: c.name, db_name: ctx.db, field }, coordinator.within(ctx.deadline));
      await core.synced(ctx);
      return OK;
    },
  };
}
