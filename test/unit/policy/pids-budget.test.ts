import { defaultConfig, parseConfig } from '../../../src/policy/config.js';
import { PIDS_LIMIT_CEILING_LABEL } from '../../../src/policy/keys.js';
import { pidsCeilingFor, resolvePidsLimit } from '../../../src/policy/pids-budget.js';

const config = defaultConfig(); // ceiling 4096, dotnet.pidsLimit 1024
const labels = (value: string) => ({ [PIDS_LIMIT_CEILING_LABEL]: value });

describe('pidsCeilingFor', () => {
  it('is the config ceiling without a namespace label', () => {
    expect(pidsCeilingFor(config)).toEqual({ ceiling: 4096 });
    expect(pidsCeilingFor(config, { other: 'x' })).toEqual({ ceiling: 4096 });
  });

  it.each([['100000', 100000], ['512', 512], ['16', 16], ['4194304', 4194304]])('takes the namespace label %s', (value, ceiling) => {
    expect(pidsCeilingFor(config, labels(value))).toEqual({ ceiling });
  });

  it.each(['abc', '', '15', '4194305', '-1', '1e5', '0x100', '12.5'])('falls back to the config ceiling with a warning for %j', (value) => {
    const result = pidsCeilingFor(config, labels(value));
    expect(result.ceiling).toBe(4096);
    expect(result.warning).toContain(`${PIDS_LIMIT_CEILING_LABEL}=${JSON.stringify(value)}`);
    expect(result.warning).toContain('using the config ceiling 4096');
  });
});

describe('resolvePidsLimit', () => {
  it('is undefined without an annotation', () => {
    expect(resolvePidsLimit(undefined, config)).toBeUndefined();
  });

  it.each([['1', 1], ['1024', 1024], ['4096', 4096], [' 200 ', 200], ['0100', 100]])('keeps %j', (value, limit) => {
    expect(resolvePidsLimit(value, config)).toEqual({ limit });
  });

  it('lowers a value above the ceiling to the ceiling', () => {
    expect(resolvePidsLimit('4194304', config)).toEqual({
      limit: 4096,
      reason: 'above-ceiling',
      problem: 'pidguard.io/pids-limit="4194304" is above the ceiling 4096; lowered to 4096',
    });
  });

  it.each(['abc', '', '0', '-5', '4194305', '1e6', '2048.0', '99999999999999999999999'])(
    'replaces the invalid %j with min(dotnet.pidsLimit, ceiling)',
    (value) => {
      const result = resolvePidsLimit(value, config);
      expect(result?.limit).toBe(1024);
      expect(result?.problem).toContain('is not a whole number from 1 to 4194304; replaced with 1024');
    },
  );

  it('follows a namespace ceiling that raises or lowers the budget', () => {
    expect(resolvePidsLimit('50000', config, labels('100000'))).toEqual({ limit: 50000 });
    expect(resolvePidsLimit('2048', config, labels('512'))?.limit).toBe(512);
    // An invalid value under a ceiling below dotnet.pidsLimit gets the ceiling.
    expect(resolvePidsLimit('abc', config, labels('512'))?.limit).toBe(512);
  });

  it('uses the config ceiling when the namespace label is invalid (never an exemption)', () => {
    expect(resolvePidsLimit('100000', config, labels('lots'))?.limit).toBe(4096);
  });

  it('honours a configured ceiling', () => {
    expect(resolvePidsLimit('9000', parseConfig({ pids: { ceiling: 8192 } }))?.limit).toBe(8192);
  });

  it('keeps the message short for a huge annotation', () => {
    const result = resolvePidsLimit('9'.repeat(200_000), config);
    expect(result?.limit).toBe(1024);
    expect(result!.problem!.length).toBeLessThan(200);
  });
});
