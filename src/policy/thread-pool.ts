// The .NET thread-pool knobs as the runtime reads them from a container's env
// (FACTS.md): DOTNET_ThreadPool_Force{Max,Min}WorkerThreads, or the older
// COMPlus_ spelling when the DOTNET_ one is absent; DWORDs parsed as
// hexadecimal with an optional 0x. A forced maximum of 0 means "not forced";
// a forced minimum above the forced maximum makes the runtime ignore both
// (HasForcedMaxThreads), so the cap is void.

import type { EnvVar } from './types.js';

export type ThreadPoolKnob = 'ForceMaxWorkerThreads' | 'ForceMinWorkerThreads';

export type KnobSetting =
  | { state: 'absent' }
  /** Set through valueFrom (a ConfigMap, Secret, field): invisible at admission. */
  | { state: 'hidden'; name: string }
  /** Not a hexadecimal DWORD: older runtimes may read a prefix of it, newer ones ignore it. */
  | { state: 'invalid'; name: string; raw: string }
  | { state: 'set'; name: string; raw: string; value: number };

/** The runtime's ceiling for worker threads on 64-bit (MaxPossibleThreadCount = short.MaxValue). */
export const MAX_POSSIBLE_THREADS = 32767;

/** The setting the runtime uses: the last `DOTNET_` entry, else the last `COMPlus_` one (Kubernetes' last entry of a name wins). */
export function threadPoolKnob(env: readonly EnvVar[] | undefined, knob: ThreadPoolKnob): KnobSetting {
  return knobFrom(env, `DOTNET_ThreadPool_${knob}`) ?? knobFrom(env, `COMPlus_ThreadPool_${knob}`) ?? { state: 'absent' };
}

function knobFrom(env: readonly EnvVar[] | undefined, name: string): KnobSetting | undefined {
  let entry: EnvVar | undefined;
  for (const candidate of env ?? []) if (candidate?.name === name) entry = candidate;
  if (entry === undefined) return undefined;
  if (typeof entry.value !== 'string' && entry.valueFrom !== undefined) return { state: 'hidden', name };
  const raw = typeof entry.value === 'string' ? entry.value : ''; // no value is the empty string
  const value = parseDotnetHex(raw);
  return value === undefined ? { state: 'invalid', name, raw } : { state: 'set', name, raw, value };
}

/** `100`, `0x100`, `0X100` -> 256; undefined for anything else or above 0xFFFFFFFF. Linear, whatever the length. */
export function parseDotnetHex(raw: string): number | undefined {
  const digits = raw.startsWith('0x') || raw.startsWith('0X') ? 2 : 0;
  if (raw.length === digits) return undefined;
  let value = 0;
  for (let index = digits; index < raw.length; index += 1) {
    const digit = hexDigit(raw.charCodeAt(index));
    if (digit === undefined) return undefined;
    value = value * 16 + digit;
    if (value > 0xffffffff) return undefined;
  }
  return value;
}

function hexDigit(code: number): number | undefined {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 102) return code - 87;
  if (code >= 65 && code <= 70) return code - 55;
  return undefined;
}
