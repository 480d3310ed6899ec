// Which libvirt domains numadvisor advises and moves: the administrator's include and exclude lists (the daemon's
// --domain-include and --domain-exclude, changed at run time through the API and kept across restarts).

export interface DomainFilter {
  /** names or UUIDs; when non-empty only these are advised or moved */
  include: string[];
  /** names or UUIDs never advised or moved */
  exclude: string[];
}

export function domainSelected(filter: DomainFilter, d: { name: string; uuid: string }): boolean {
  const hit = (list: string[]): boolean => list.includes(d.name) || list.includes(d.uuid);
  if (hit(filter.exclude)) return false;
  return filter.include.length === 0 || hit(filter.include);
}
