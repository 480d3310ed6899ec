// prom-client's default metrics, one module each (server/metrics.ts registers all but the event-loop delay monitor).
// prom-client ships types for its index only; each of these modules exports one function of this shape.
declare module 'prom-client/lib/metrics/*.js' {
  import type { Registry } from 'prom-client';

  const register: (registry: Registry, config: { prefix?: string; labels?: Record<string, string> }) => void;
  export default register;
}
