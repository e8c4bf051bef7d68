import { MilvusClient, DataType } from '@zilliz/milvus2-sdk-node';
import { startStandalone } from '../support/kite';
(async () => {
  const s = await startStandalone();
  const c = new MilvusClient({ address: s.address });
  try {
    await c.createCollection({ collection_name: 'd', fields: [
      { name: 'id', data_type: DataType.Int64, is_primary_key: true },
      { name: 'n', data_type: DataType.Int32 },
      { name: 'vector', data_type: DataType.FloatVector, dim: 4 }], enable_dynamic_field: true, consistency_level: 'Strong' });
    await c.insert({ collection_name: 'd', data: [{ id: 1, n: 5, vector: [0.1, 0.2, 0.3, 0.4], dyn_n: 53, dyn_s: 'x' }, { id: 2, n: 6, vector: [1.1, 0.2, 0.3, 0.4], dyn_n: 54 }] });
    await c.createIndex({ collection_name: 'd', field_name: 'vector', index_type: 'FLAT', metric_type: 'L2' });
    await c.loadCollectionSync({ collection_name: 'd' });
    const r = await c.search({ collection_name: 'd', data: [[0.3, 0.3, 0.3, 0.3]], limit: 2, output_fields: ['*'] });
    console.log(JSON.stringify(r.results));
    const { buildSearchRequest, promisify } = require('@zilliz/milvus2-sdk-node');
    const info = await c.describeCollection({ collection_name: 'd' });
    const { request } = buildSearchRequest({ collection_name: 'd', data: [[0.3, 0.3, 0.3, 0.3]], limit: 1, output_fields: ['*'] }, info, (c as any).milvusProto);
    const raw = await promisify((c as any).channelPool, 'Search', request, 10000);
    console.log('RAW', JSON.stringify({ output_fields: raw.results.output_fields, names: raw.results.fields_data.map((f: any) => f.field_name) }));
    const req2 = buildSearchRequest({ collection_name: 'd', data: [[0.3, 0.3, 0.3, 0.3]], limit: 1, output_fields: ['dyn_n'] }, info, (c as any).milvusProto).request;
    const raw2 = await promisify((c as any).channelPool, 'Search', req2, 10000);
    console.log('RAW2', JSON.stringify({ output_fields: raw2.results.output_fields, names: raw2.results.fields_data.map((f: any) => f.field_name) }));
    const q = await c.query({ collection_name: 'd', filter: 'id > 0', output_fields: ['*'] });
    console.log(JSON.stringify(q.data));
    const r2 = await c.search({ collection_name: 'd', data: [[0.3, 0.3, 0.3, 0.3]], limit: 2, params: { round_decimal: 2 } });
    console.log(JSON.stringify(r2.results));
    const r3 = await c.search({ collection_name: 'd', data: [[0.3, 0.3, 0.3, 0.3]], limit: 2 });
    console.log(JSON.stringify(r3.results));
  } finally { await c.closeConnection(); await s.dispose(); }
})();
