// Container image references, split as the distribution reference grammar
// does (github.com/distribution/reference: splitDockerDomain): the first
// component is a registry domain only if it contains '.' or ':', is
// 'localhost', or has an upper-case letter; then the repository path, an
// optional tag after the last ':' of the last component, and an optional
// digest after '@'. One pass over the string, whatever it holds: the API
// server does not bound image strings, so nothing here may backtrack.

export interface ImageReference {
  /** Registry host[:port], or undefined when the reference names none (Docker Hub). */
  domain?: string;
  /** The repository path, components separated by '/', e.g. 'dotnet/aspnet'. */
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * Splits an image reference; a malformed one is still split as far as it goes
 * (detection must not fail on it). The path stays one string: a hostile image
 * of a million components must not become a million strings.
 */
export function parseImageReference(image: string): ImageReference {
  const at = image.indexOf('@');
  const name = at === -1 ? image : image.slice(0, at);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.indexOf(':', lastSlash + 1);
  const repository = colon === -1 ? name : name.slice(0, colon);
  const firstSlash = repository.indexOf('/');
  const domain = firstSlash === -1 ? undefined : repository.slice(0, firstSlash);
  const reference: ImageReference = domain !== undefined && isDomain(domain) ? { domain, path: repository.slice(firstSlash + 1) } : { path: repository };
  if (colon !== -1) reference.tag = name.slice(colon + 1);
  if (at !== -1) reference.digest = image.slice(at + 1);
  return reference;
}

/** The grammar's test for a first component that names a registry rather than a repository. */
export function isDomain(component: string): boolean {
  if (component === 'localhost') return true;
  for (let index = 0; index < component.length; index += 1) {
    const code = component.charCodeAt(index);
    if (code === 46 || code === 58 || (code >= 65 && code <= 90)) return true; // '.', ':', A-Z
  }
  return false;
}
