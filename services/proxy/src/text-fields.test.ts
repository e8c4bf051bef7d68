import { KiteError } from '@kite/common';
import { checkTextParams } from './text-fields';

const check = (params: Record<string, string>, type = 'VarChar'): Record<string, string> => {
  const p = { max_length: '100', ...params };
  checkTextParams('body', type, p);
  return p;
};

describe('VarChar text-analysis type params', () => {
  it('accepts the flags and valid analyzer_params, keeping them for DescribeCollection', () => {
    expect(check({ enable_analyzer: 'true', enable_match: 'True', analyzer_params: '{"type":"english"}' })).toEqual({
      max_length: '100', enable_analyzer: 'true', enable_match: 'true', analyzer_params: '{"type":"english"}',
    });
    expect(check({ enable_analyzer: '1' }).enable_analyzer).toBe('true');
    expect(check({ enable_analyzer: 'false', enable_match: 'FALSE' })).toMatchObject({ enable_analyzer: 'false', enable_match: 'false' });
    expect(check({})).toEqual({ max_length: '100' });
  });

  const refused: Array<[string, Record<string, string>, string, RegExp]> = [
    ['a flag that is not a boolean', { enable_analyzer: 'yes' }, 'VarChar', /field "body": type param enable_analyzer must be true or false, got "yes"/],
    ['enable_match without enable_analyzer', { enable_match: 'true' }, 'VarChar', /field "body" which has enable_match must also enable_analyzer: set enable_analyzer=True/],
    ['bad analyzer_params', { enable_analyzer: 'true', analyzer_params: '{"tokenizer":"jieba"}' }, 'VarChar', /field "body": invalid analyzer_params: tokenizer "jieba" is not supported.*standard, whitespace/],
    ['analyzer_params that are not JSON', { enable_analyzer: 'true', analyzer_params: '{type:' }, 'VarChar', /field "body": invalid analyzer_params: not valid JSON/],
    ['multi_analyzer_params', { enable_analyzer: 'true', multi_analyzer_params: '{}' }, 'VarChar', /field "body": multi_analyzer_params is not supported by Kite; give one analyzer in analyzer_params/],
    ['a non-VarChar field', { enable_analyzer: 'true' }, 'Int64', /field "body": enable_analyzer apply to VarChar fields only, not Int64/],
  ];
  it.each(refused)('refuses %s, naming the field', (_what, params, type, message) => {
    let err: unknown;
    try {
      check(params, type);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KiteError);
    expect((err as KiteError).kind).toBe('ParameterInvalid');
    expect((err as Error).message).toMatch(message);
  });
});
