// The layer rule of docs/architecture.md, checked by `make check-deps` (part of `make test`):
// a folder of src/ may import only folders listed before it here, and nothing may import in a circle.
// Type-only imports count: a type from a higher layer ties the lower one to it just the same.
const LAYERS = ['log', 'topology', 'policy', 'model', 'observe', 'balance', 'sim', 'libvirt', 'apply', 'server', 'config', 'daemon', 'cli'];
// src/errors.ts, src/safe-open.ts and src/version.ts sit below every folder.
const BASE = '^src/[^/]+\\.ts$';

const layerRules = LAYERS.map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer}/ may import only ${['src/*.ts', ...LAYERS.slice(0, i).map((l) => `src/${l}/`)].join(', ')} (docs/architecture.md, Layers)`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a circle of imports means two modules cannot be read (or tested) one without the other',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'base-imports-no-layer',
      comment: 'src/*.ts (errors, safe-open, version) are imported by every layer and import none',
      severity: 'error',
      from: { path: BASE },
      to: { path: '^src/[^/]+/' },
    },
    {
      name: 'apply-is-mechanism',
      comment: 'apply/ carries out what balance/ decided; it must not decide (choose pins or nodes) itself',
      severity: 'error',
      from: { path: '^src/apply/' },
      to: { path: '^src/(balance|policy)/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // TypeScript 7 has no JavaScript API; dependency-cruiser parses TypeScript with @swc/core instead.
    parser: 'swc',
  },
};
