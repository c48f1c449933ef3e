// Recognises .NET containers from what a pod spec shows. Custom images built
// FROM a .NET base carry their DOTNET_* variables in the image config, which an
// admission webhook never sees: the opt-in label or annotation covers them.

import type { PolicyConfig } from './config.js';
import { RUNTIME_KEY } from './keys.js';
import type { Container, ObjectMeta } from './types.js';

/** Why a container counts as .NET; empty when it does not. */
export function dotnetSignals(
  container: Container,
  pod: ObjectMeta | undefined,
  isInitContainer: boolean,
  detection: PolicyConfig['dotnet'],
): string[] {
  const signals: string[] = [];
  if (!isInitContainer && optedIn(pod)) signals.push(`${RUNTIME_KEY}=dotnet`);
  const image = container.image ?? '';
  if (detection.imagePatterns.some((pattern) => pattern.test(image))) signals.push(`image ${image}`);
  const envName = (container.env ?? []).find((env) => detection.envPrefixes.some((prefix) => env.name?.startsWith(prefix)));
  if (envName) signals.push(`env ${envName.name}`);
  const word = [...(container.command ?? []), ...(container.args ?? [])].find(
    (entry) => typeof entry === 'string' && detection.commandPatterns.some((pattern) => pattern.test(entry)),
  );
  if (word !== undefined) signals.push(`command ${word}`);
  return signals;
}

function optedIn(pod: ObjectMeta | undefined): boolean {
  return pod?.labels?.[RUNTIME_KEY] === 'dotnet' || pod?.annotations?.[RUNTIME_KEY] === 'dotnet';
}
