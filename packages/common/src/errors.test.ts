import { ErrorCodes, KiteError, LegacyCode, type ErrorKind } from './errors';

type Spec = { code: number; legacy: number; retriable: boolean; sharesCodeOf?: { kind: string; why: string } };
const specs = ErrorCodes as Record<ErrorKind, Spec>;
const kinds = Object.keys(specs) as ErrorKind[];

/**
 * Problems with code sharing in `table`: a code used by several kinds must have one owner (no `sharesCodeOf`) and
 * every other kind must name that owner, with a reason; a kind must not claim to share a code it does not have.
 */
function sharingProblems(table: Record<string, Spec>): string[] {
  const problems: string[] = [];
  const byCode = new Map<number, string[]>();
  for (const [kind, spec] of Object.entries(table)) byCode.set(spec.code, [...(byCode.get(spec.code) ?? []), kind]);
  for (const [code, names] of byCode) {
    const owners = names.filter((k) => !table[k]!.sharesCodeOf);
    if (owners.length !== 1) problems.push(`code ${code}: ${owners.length} kinds own it (${owners.join(', ')}); the others must declare sharesCodeOf`);
  }
  for (const [kind, spec] of Object.entries(table)) {
    const s = spec.sharesCodeOf;
    if (!s) continue;
    const owner = table[s.kind];
    if (!owner) problems.push(`${kind} shares the code of ${s.kind}, which is not a kind`);
    else if (owner.code !== spec.code) problems.push(`${kind} (code ${spec.code}) claims the code of ${s.kind} (code ${owner.code})`);
    else if (owner.sharesCodeOf) problems.push(`${kind} shares through ${s.kind}, which does not own code ${spec.code}`);
    if (s.why.trim().length < 20) problems.push(`${kind} shares the code of ${s.kind} without saying why`);
  }
  return problems;
}

describe('error codes', () => {
  it('give every kind its own code, or name the kind whose code it shares and why', () => {
    expect(sharingProblems(specs)).toEqual([]);
  });

  it('catch two kinds that share a code without declaring it', () => {
    const undeclared = { ...specs, Extra: { code: specs.IoFailed.code, legacy: LegacyCode.UnexpectedError, retriable: false } };
    expect(sharingProblems(undeclared)).toEqual([expect.stringContaining(`code ${specs.IoFailed.code}: 2 kinds own it`)]);
    const wrongOwner = { ...specs, Extra: { ...specs.MetaFailed, sharesCodeOf: { kind: 'ServiceUnavailable', why: 'a reason that is long enough' } } };
    expect(sharingProblems(wrongOwner)).toEqual([expect.stringContaining('Extra (code 1001) claims the code of ServiceUnavailable (code 2)')]);
  });

  it('define each legacy code once', () => {
    const values = Object.values(LegacyCode);
    expect(new Set(values).size).toBe(values.length);
  });

  it('keep the codes clients and SDKs branch on', () => {
    // Milvus's merr codes (pkg/util/merr/errors.go) for the kinds the SDKs and tests check.
    expect(new KiteError('ServiceNotReady', 'x')).toMatchObject({ code: 1, legacyCode: 56, retriable: true });
    expect(new KiteError('CollectionNotFound', 'x')).toMatchObject({ code: 100, legacyCode: LegacyCode.CollectionNotExists });
    expect(new KiteError('IndexNotFound', 'x')).toMatchObject({ code: 700, legacyCode: LegacyCode.IndexNotExist });
    expect(new KiteError('ParameterInvalid', 'x')).toMatchObject({ code: 1100, retriable: false });
    expect(new KiteError('ExpressionInvalid', 'x').code).toBe(1100);
    expect(new KiteError('DeadlineExceeded', 'x')).toMatchObject({ code: 2, retriable: true });
  });

  it('let a kind be raised retriable or not at the throw site', () => {
    expect(new KiteError('SegmentLoadFailed', 'x', { retriable: false }).retriable).toBe(false);
    for (const k of kinds) expect(new KiteError(k, 'x').retriable).toBe(specs[k].retriable);
  });
});
