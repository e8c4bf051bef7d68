/**
 * @kite/proto: Milvus's public gRPC API as Kite serves it. Loads proto/milvus/*.proto for grpc-js, decodes the
 * messages that travel inside `bytes` fields, and types every message the proxy handles (types.ts).
 */
import type * as grpc from '@grpc/grpc-js';
import {
  decodeMessage,
  encodeMessage,
} from './loader';
import type { CollectionSchema, MilvusMethodName, MilvusRequest, MilvusResponse, PlaceholderGroup } from './types';

export {
  MILVUS_LOADER_OPTIONS,
  MILVUS_PROTO_FILE,
  MILVUS_SERVICE_NAME,
  decodeMessage,
  encodeMessage,
  loadMilvusPackage,
  milvusProtobufRoot,
  milvusServiceDefinition,
  protoRoot,
} from './loader';
export * from './types';

/** Decodes CreateCollectionRequest.schema. */
export function decodeCollectionSchema(bytes: Uint8Array): CollectionSchema {
  return decodeMessage<CollectionSchema>('milvus.proto.schema.CollectionSchema', bytes);
}

/** Encodes a CollectionSchema the way the SDKs put it in CreateCollectionRequest.schema. */
export function encodeCollectionSchema(schema: object): Buffer {
  return encodeMessage('milvus.proto.schema.CollectionSchema', schema);
}

/** Decodes SearchRequest.placeholder_group. */
export function decodePlaceholderGroup(bytes: Uint8Array): PlaceholderGroup {
  return decodeMessage<PlaceholderGroup>('milvus.proto.common.PlaceholderGroup', bytes);
}

/** Encodes query vectors as the SDKs do: one placeholder tagged "$0", each value dim little-endian float32s. */
export function encodeFloatVectorPlaceholderGroup(vectors: ArrayLike<number>[]): Buffer {
  const values = Array.from(vectors, (v) => Buffer.from(Float32Array.from(v).buffer));
  return encodeMessage('milvus.proto.common.PlaceholderGroup', { placeholders: [{ tag: '$0', type: 'FloatVector', values }] });
}

/** Handlers for `server.addService(milvusServiceDefinition(), handlers)`, typed per method. */
export type MilvusHandlers = {
  [M in MilvusMethodName]: grpc.handleUnaryCall<MilvusRequest<M>, MilvusResponse<M>>;
};
