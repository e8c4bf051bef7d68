// types.ts against proto/milvus: every interface named after a message declares exactly that message's fields with
// the TypeScript type the loader produces (decoded form) or accepts (Out form); every RPC's request and response,
// and every message nested in them, has an interface; the enum constant tables match the .proto enums.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as ts from 'typescript';
import * as types from './types';
import { MILVUS_SERVICE_NAME, milvusProtobufRoot } from './loader';

const root = milvusProtobufRoot();
const service = root.lookupService(MILVUS_SERVICE_NAME);

// ---- read types.ts ----
type Prop = { name: string; optional: boolean; type: string };
const source = ts.createSourceFile('types.ts', fs.readFileSync(path.join(__dirname, 'types.ts'), 'utf8'), ts.ScriptTarget.ES2022, true);
const interfaces = new Map<string, Prop[]>();
const aliases = new Map<string, string>();
const norm = (s: string): string => s.replace(/\s+/g, ' ').replace(/^\| /, '').trim();
for (const st of source.statements) {
  if (ts.isInterfaceDeclaration(st)) {
    interfaces.set(
      st.name.text,
      st.members.filter(ts.isPropertySignature).map((m) => ({
        name: m.name.getText(source),
        optional: m.questionToken !== undefined,
        type: norm(m.type?.getText(source) ?? ''),
      })),
    );
  } else if (ts.isTypeAliasDeclaration(st)) {
    aliases.set(st.name.text, norm(st.type.getText(source)));
  }
}

// ---- expected TypeScript types ----
const ENUM_TS: Record<string, string> = {
  '.milvus.proto.schema.DataType': 'DataType',
  '.milvus.proto.schema.FieldState': 'FieldState',
  '.milvus.proto.schema.FunctionType': 'FunctionType',
  '.milvus.proto.schema.FieldPartialUpdateOp.OpType': 'PartialUpdateOp',
  '.milvus.proto.common.ErrorCode': 'ErrorCode',
  '.milvus.proto.common.MsgType': 'MsgType',
  '.milvus.proto.common.ConsistencyLevel': 'ConsistencyLevel',
  '.milvus.proto.common.DslType': 'DslType',
  '.milvus.proto.common.IndexState': 'IndexState',
  '.milvus.proto.common.LoadState': 'LoadState',
  '.milvus.proto.common.SegmentState': 'SegmentState',
  '.milvus.proto.common.SegmentLevel': 'SegmentLevel',
  '.milvus.proto.common.CompactionState': 'CompactionState',
  '.milvus.proto.common.ImportState': 'ImportState',
  '.milvus.proto.common.StateCode': 'StateCode',
  '.milvus.proto.common.PlaceholderType': 'PlaceholderType',
  '.milvus.proto.common.HighlightType': 'HighlightType',
  '.milvus.proto.milvus.ShowType': 'ShowType',
  '.milvus.proto.milvus.QuotaState': 'QuotaState',
  '.milvus.proto.milvus.OperateUserRoleType': 'OperateUserRoleType',
  '.milvus.proto.milvus.OperatePrivilegeType': 'OperatePrivilegeType',
  '.milvus.proto.milvus.OperatePrivilegeGroupType': 'OperatePrivilegeGroupType',
};
const LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const NUMBER = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'float', 'double']);

type Dir = 'in' | 'out';

/** The interface that types message `t` in direction `dir`. */
function tsNameOf(t: protobuf.Type, dir: Dir): string {
  if (dir === 'out' && interfaces.has(`${t.name}Out`)) return `${t.name}Out`;
  return t.name;
}

function elementType(f: protobuf.Field, dir: Dir): string {
  if (f.resolvedType instanceof protobuf.Enum) {
    const e = ENUM_TS[f.resolvedType.fullName];
    if (!e) throw new Error(`no TS name for enum ${f.resolvedType.fullName}`);
    return `${e} | number`;
  }
  if (f.resolvedType instanceof protobuf.Type) return tsNameOf(f.resolvedType, dir);
  if (LONG.has(f.type)) return dir === 'in' ? 'Int64' : 'Int64Like';
  if (NUMBER.has(f.type)) return 'number';
  if (f.type === 'bool') return 'boolean';
  if (f.type === 'string') return 'string';
  if (f.type === 'bytes') return dir === 'in' ? 'Buffer' : 'Uint8Array';
  throw new Error(`unhandled type ${f.type}`);
}

function expectedType(f: protobuf.Field, dir: Dir): string {
  const el = elementType(f, dir);
  if (f.map) return `Record<string, ${el}>`;
  if (f.repeated) return el.includes('|') ? `(${el})[]` : `${el}[]`;
  if (f.resolvedType instanceof protobuf.Type && !f.partOf) return `${el} | null`;
  return el;
}

/** The exact property list an interface for `t` must have. */
function expectedProps(t: protobuf.Type, dir: Dir): Prop[] {
  const props: Prop[] = [];
  if (dir === 'in') {
    for (const o of t.oneofsArray) props.push({ name: o.name, optional: true, type: o.fieldsArray.map((f) => `'${f.name}'`).join(' | ') });
  }
  for (const f of t.fieldsArray) props.push({ name: f.name, optional: dir === 'out' || !!f.partOf, type: expectedType(f, dir) });
  return props;
}

/** Resolves a property's type through local aliases (e.g. ScalarDataKind) for comparison. */
function resolveAliases(type: string): string {
  const alias = aliases.get(type);
  return alias !== undefined && alias.startsWith("'") ? alias : type;
}

function checkInterface(iface: string, t: protobuf.Type, dir: Dir): string[] {
  const actual = interfaces.get(iface);
  if (!actual) return [`missing interface ${iface} for ${t.fullName}`];
  const problems: string[] = [];
  const expected = expectedProps(t, dir);
  const byName = new Map(actual.map((p) => [p.name, p]));
  for (const e of expected) {
    const a = byName.get(e.name);
    if (!a) {
      // Out forms may leave out fields Kite never sends; decoded forms must have all.
      if (dir === 'in') problems.push(`${iface}.${e.name} missing (expected ${e.optional ? '?' : ''}: ${e.type})`);
      continue;
    }
    if (a.optional !== e.optional) problems.push(`${iface}.${e.name} should be ${e.optional ? 'optional' : 'required'}`);
    const got = resolveAliases(a.type);
    if (got !== e.type) problems.push(`${iface}.${e.name}: ${a.type} (expected ${e.type})`);
  }
  const known = new Set(expected.map((e) => e.name));
  for (const a of actual) if (!known.has(a.name)) problems.push(`${iface}.${a.name} is not a field of ${t.fullName}`);
  return problems;
}

/** Every message reachable from `t` (including t). */
function reachable(t: protobuf.Type, seen = new Set<protobuf.Type>()): Set<protobuf.Type> {
  if (seen.has(t)) return seen;
  seen.add(t);
  for (const f of t.fieldsArray) if (f.resolvedType instanceof protobuf.Type) reachable(f.resolvedType, seen);
  return seen;
}

describe('types.ts matches proto/milvus', () => {
  service.resolveAll();
  const methods = service.methodsArray;

  it('found the interfaces', () => {
    expect(interfaces.size).toBeGreaterThan(100);
  });

  it('MilvusMethods lists every RPC with its request and response type', () => {
    const mm = interfaces.get('MilvusMethods') ?? [];
    const fromTs = Object.fromEntries(mm.map((p) => [p.name, p.type]));
    const fromProto = Object.fromEntries(
      methods.map((m) => [m.name, `[${m.resolvedRequestType!.name}, ${m.resolvedResponseType!.name}]`]),
    );
    expect(fromTs).toEqual(fromProto);
  });

  it('every message the server receives has a decoded interface with all fields, typed as the loader decodes them', () => {
    const problems: string[] = [];
    const done = new Set<string>();
    for (const m of methods) {
      for (const t of reachable(m.resolvedRequestType!)) {
        if (done.has(t.fullName)) continue;
        done.add(t.fullName);
        const iface = t.name;
        if (Object.keys(t.fields).length === 0) {
          if (aliases.get(iface) !== 'Record<string, never>') problems.push(`${iface} should be Record<string, never>`);
          continue;
        }
        problems.push(...checkInterface(iface, t, 'in'));
      }
    }
    expect(problems).toEqual([]);
  });

  it('every message the server sends has an interface whose fields are optional and typed as the serializer accepts', () => {
    const problems: string[] = [];
    const done = new Set<string>();
    for (const m of methods) {
      for (const t of reachable(m.resolvedResponseType!)) {
        if (done.has(t.fullName)) continue;
        done.add(t.fullName);
        const iface = tsNameOf(t, 'out');
        const props = interfaces.get(iface);
        // A message with the same shape both ways (KeyValuePair) is checked as decoded.
        const dir: Dir = iface.endsWith('Out') || (props !== undefined && props.every((p) => p.optional)) ? 'out' : 'in';
        problems.push(...checkInterface(iface, t, dir));
      }
    }
    expect(problems).toEqual([]);
  });

  it('the Out variants of shared messages are well-formed', () => {
    const problems: string[] = [];
    for (const [name] of interfaces) {
      if (!name.endsWith('Out')) continue;
      const t = root.lookupType(`milvus.proto.${['common', 'schema', 'milvus'].find((p) => root.lookup(`milvus.proto.${p}.${name.slice(0, -3)}`)) ?? 'x'}.${name.slice(0, -3)}`);
      problems.push(...checkInterface(name, t, 'out'));
    }
    expect(problems).toEqual([]);
  });

  it.each([
    ['DATA_TYPES', types.DATA_TYPES, 'milvus.proto.schema.DataType'],
    ['CONSISTENCY_LEVELS', types.CONSISTENCY_LEVELS, 'milvus.proto.common.ConsistencyLevel'],
    ['DSL_TYPES', types.DSL_TYPES, 'milvus.proto.common.DslType'],
    ['INDEX_STATES', types.INDEX_STATES, 'milvus.proto.common.IndexState'],
    ['LOAD_STATES', types.LOAD_STATES, 'milvus.proto.common.LoadState'],
    ['SEGMENT_STATES', types.SEGMENT_STATES, 'milvus.proto.common.SegmentState'],
    ['SEGMENT_LEVELS', types.SEGMENT_LEVELS, 'milvus.proto.common.SegmentLevel'],
    ['IMPORT_STATES', types.IMPORT_STATES, 'milvus.proto.common.ImportState'],
    ['STATE_CODES', types.STATE_CODES, 'milvus.proto.common.StateCode'],
    ['SHOW_TYPES', types.SHOW_TYPES, 'milvus.proto.milvus.ShowType'],
    ['QUOTA_STATES', types.QUOTA_STATES, 'milvus.proto.milvus.QuotaState'],
    ['FIELD_STATES', types.FIELD_STATES, 'milvus.proto.schema.FieldState'],
    ['FUNCTION_TYPES', types.FUNCTION_TYPES, 'milvus.proto.schema.FunctionType'],
    ['PLACEHOLDER_TYPES', types.PLACEHOLDER_TYPES, 'milvus.proto.common.PlaceholderType'],
    ['HIGHLIGHT_TYPES', types.HIGHLIGHT_TYPES, 'milvus.proto.common.HighlightType'],
    ['PARTIAL_UPDATE_OPS', types.PARTIAL_UPDATE_OPS, 'milvus.proto.schema.FieldPartialUpdateOp.OpType'],
    ['ERROR_CODES', types.ERROR_CODES, 'milvus.proto.common.ErrorCode'],
  ] as const)('%s equals the .proto enum', (_name, table, enumName) => {
    expect(table).toEqual(root.lookupEnum(enumName).values);
  });

  it('MsgType names equal the .proto enum', () => {
    const names = (aliases.get('MsgType') ?? '').split('|').map((s) => s.trim().replace(/'/g, ''));
    expect(names.sort()).toEqual(Object.keys(root.lookupEnum('milvus.proto.common.MsgType').values).sort());
  });
});
