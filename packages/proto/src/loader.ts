import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import type * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

/**
 * The options every Kite service loads Milvus's protos with. Services are written against the object shapes these
 * produce (see types.ts): field names as in the .proto, 64-bit integers as decimal strings, enums as value names,
 * defaults filled in (message fields as null), oneof discriminator properties, empty arrays, bytes as Buffer.
 */
export const MILVUS_LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  arrays: true,
  bytes: Buffer,
} as const;

/** Full name of the public service; method paths are `/milvus.proto.milvus.MilvusService/<Method>`. */
export const MILVUS_SERVICE_NAME = 'milvus.proto.milvus.MilvusService';

/** The entry file, relative to protoRoot(). */
export const MILVUS_PROTO_FILE = 'milvus/milvus.proto';

let cachedRoot: string | undefined;

/**
 * Absolute path of the repository's proto/ directory (the include root for `milvus/*.proto` and `kite/*.proto`).
 * Found by walking up from this file, so it works from src/ under jest and from dist/ after a build.
 */
export function protoRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, MILVUS_PROTO_FILE))) {
      cachedRoot = candidate;
      return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`proto/${MILVUS_PROTO_FILE} not found in any parent of ${__dirname}; is the repository's proto/ directory present?`);
    }
    dir = parent;
  }
}

let cachedPackage: protoLoader.PackageDefinition | undefined;

/**
 * The grpc-js package definition of Milvus's public API (MilvusService and its messages), loaded from proto/ with
 * MILVUS_LOADER_OPTIONS. Cached: every call returns the same object.
 */
export function loadMilvusPackage(): protoLoader.PackageDefinition {
  if (cachedPackage === undefined) {
    cachedPackage = protoLoader.loadSync(MILVUS_PROTO_FILE, { ...MILVUS_LOADER_OPTIONS, includeDirs: [protoRoot()] });
  }
  return cachedPackage;
}

/** MilvusService's definition, ready for `server.addService(milvusServiceDefinition(), handlers)`. */
export function milvusServiceDefinition(): grpc.ServiceDefinition {
  const def = loadMilvusPackage()[MILVUS_SERVICE_NAME];
  if (def === undefined || !('Search' in def)) throw new Error(`${MILVUS_SERVICE_NAME} missing from ${MILVUS_PROTO_FILE}`);
  return def as unknown as grpc.ServiceDefinition;
}

let cachedProtobufRoot: protobuf.Root | undefined;

/** The same .proto files as a protobufjs Root (field names kept as written), for messages nested in `bytes` fields. */
export function milvusProtobufRoot(): protobuf.Root {
  if (cachedProtobufRoot === undefined) {
    const root = new protobuf.Root();
    const include = protoRoot();
    root.resolvePath = (_origin: string, target: string): string => (path.isAbsolute(target) ? target : path.join(include, target));
    root.loadSync(MILVUS_PROTO_FILE, { keepCase: true });
    root.resolveAll();
    cachedProtobufRoot = root;
  }
  return cachedProtobufRoot;
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  arrays: true,
};

/**
 * Decodes `bytes` as the message `typeName` (e.g. 'milvus.proto.schema.CollectionSchema') into the same shape the
 * gRPC loader produces. Throws protobufjs's error on malformed input.
 */
export function decodeMessage<T>(typeName: string, bytes: Uint8Array): T {
  const type = milvusProtobufRoot().lookupType(typeName);
  return type.toObject(type.decode(bytes), TO_OBJECT) as T;
}

/** Encodes a plain object (names as in the .proto; enums by name or number; int64 as string or number). */
export function encodeMessage(typeName: string, value: object): Buffer {
  const type = milvusProtobufRoot().lookupType(typeName);
  return Buffer.from(type.encode(type.fromObject(value as Record<string, unknown>)).finish());
}
