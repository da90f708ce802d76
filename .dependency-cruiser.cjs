// The layering of gemma2-ts, checked by dependency-cruiser in `npm test`
// (test/layering.test.ts; `npm run layers` prints the same report).
// Paths are relative to the repository root; lib/, kernels/ and reference/ are
// cruised (test/ is not: tests may reach anything).
//
// Each rule has a one-line reason (its comment). A dependency that breaks
// several rules is reported once, with every rule it breaks.

const { builtinModules } = require('node:module');

// The library's folders bottom-up, with what each may import besides itself
// (and npm packages). A folder may name only folders listed before it, so the
// folders form no import cycle: checked below, when this file loads.
// `below: true` means every folder listed before it (the tools and entries).
const LAYERS = [
  { folder: 'lib/platform', mayImport: [], why: "the seam to the platform: takes Node's built-ins at run time, imports nothing of ours" },
  { folder: 'reference', mayImport: [], why: 'the independent float64 oracle: it imports nothing it checks' },
  { folder: 'lib/tensor', mayImport: ['lib/platform'], why: 'the base every layer stands on: storage, shapes, dtypes' },
  { folder: 'lib/autograd', mayImport: ['lib/platform', 'lib/tensor'], why: 'the tape records tensors and knows no op' },
  { folder: 'kernels', mayImport: ['lib/platform', 'lib/tensor'], why: 'compute on flat arrays (kernels/wasm/ included): no op, model, tool or tape' },
  { folder: 'lib/ops', mayImport: ['lib/platform', 'lib/tensor', 'lib/autograd', 'kernels', 'reference'], why: 'ops launch kernels and record on the tape; the registry names their float64 references' },
  { folder: 'lib/io', mayImport: ['lib/platform', 'lib/tensor'], why: 'bytes, safetensors and model folders: no model' },
  { folder: 'lib/tokenizer', mayImport: ['lib/platform', 'lib/io'], why: 'text to ids: reads model folders, knows no tensor math' },
  { folder: 'lib/model', mayImport: ['lib/platform', 'lib/tensor', 'lib/autograd', 'lib/ops', 'lib/io'], why: 'the model is written in ops, never kernels; it defines the cache it needs, so no generation' },
  { folder: 'lib/generation', mayImport: ['lib/platform', 'lib/tensor', 'lib/autograd', 'lib/ops', 'lib/model'], why: 'decoding drives the model' },
  { folder: 'lib/train', mayImport: ['lib/platform', 'lib/tensor', 'lib/autograd', 'kernels', 'lib/ops', 'lib/io', 'lib/model', 'lib/tokenizer'], why: 'training drives the model (optimizer kernels, checkpoints, tokenized data)' },
  { folder: 'lib/golden', mayImport: ['lib/platform', 'lib/tensor', 'lib/autograd', 'kernels', 'lib/ops', 'lib/io', 'lib/model', 'lib/generation', 'lib/train'], why: 'parity runs the model, generation and optimizer steps against the outputs of Transformers' },
  { folder: 'lib/tasks', mayImport: ['lib/platform', 'lib/tensor', 'lib/autograd', 'lib/ops', 'lib/model', 'lib/generation', 'lib/train'], why: 'synthetic tasks train and sample a model' },
  { folder: 'lib/cli', below: true, why: 'the gemma2 command: a tool over the whole library' },
  { folder: 'lib/explorer', below: true, why: 'the explorer page (and its views): a tool in the browser over the whole library' },
  { folder: 'lib/bench', below: true, why: 'benchmarks: tools over the whole library' },
  { folder: 'lib/*.ts', path: '^lib/[^/]+$', below: true, why: 'entry files (index.ts, core.ts, start.ts, demo.ts): nothing imports them' },
];

/** The regular expression of a folder's files ('kernels' -> '^kernels/'). */
function folderPath(layer) {
  return layer.path ?? `^${layer.folder}/`;
}

const layerByFolder = new Map();
for (const layer of LAYERS) {
  const unknown = (layer.mayImport ?? []).filter((folder) => !layerByFolder.has(folder));
  if (unknown.length > 0) throw new Error(`.dependency-cruiser.cjs: ${layer.folder} may import ${unknown.join(', ')}, which is not listed before it (the layers must be bottom-up)`);
  layer.mayImport = layer.below ? [...layerByFolder.keys()] : layer.mayImport;
  layerByFolder.set(layer.folder, layer);
}

// Where the library must run in a browser: these reach no Node built-in, directly or through anything they import.
const BROWSER_CORE = ['^lib/tensor/', '^lib/autograd/', '^lib/ops/', '^kernels/', '^lib/model/', '^lib/generation/', '^lib/tokenizer/', '^lib/core\\.ts$'];
const NODE_BUILTIN = `^(node:.+|${builtinModules.map((name) => name.replace(/[/.]/g, '\\$&')).join('|')})$`;
const OUR_CODE = '^(lib|kernels|reference)/';

const layerRules = LAYERS.filter((layer) => layer.mayImport.length < layerByFolder.size - 1).map((layer) => ({
  name: `layer:${layer.folder}`,
  comment: `${layer.folder} may import only ${layer.mayImport.join(', ') || 'npm packages'}: ${layer.why}`,
  severity: 'error',
  from: { path: folderPath(layer) },
  to: { path: OUR_CODE, pathNot: [folderPath(layer), ...layer.mayImport.map((folder) => folderPath(layerByFolder.get(folder)))] },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'reference-is-independent',
      comment: 'reference/ is the oracle the kernels and the model are tested against: it must not share their code',
      severity: 'error',
      from: { path: '^reference/' },
      to: { path: '^(lib|kernels)/' },
    },
    {
      name: 'kernels-below-model',
      comment: 'kernels compute on arrays for the ops: they know nothing of the model, training, generation or the CLI',
      severity: 'error',
      from: { path: '^kernels/' },
      to: { path: '^lib/(model|train|generation|cli)/' },
    },
    {
      name: 'tensor-is-the-base',
      comment: 'lib/tensor is the bottom layer: the ops attach its methods, so it imports no op, tape, kernel or model',
      severity: 'error',
      from: { path: '^lib/tensor/' },
      to: { path: '^(lib/autograd|lib/ops|kernels|lib/model)/' },
    },
    {
      name: 'model-not-kernels',
      comment: 'the model is written in ops; which kernel runs is the ops\' business',
      severity: 'error',
      from: { path: '^lib/model/' },
      to: { path: '^kernels/' },
    },
    {
      name: 'model-not-generation',
      comment: 'the model defines the cache interface it needs; generation implements it',
      severity: 'error',
      from: { path: '^lib/model/' },
      to: { path: '^lib/generation/' },
    },
    {
      name: 'ops-through-index',
      comment: 'outside lib/ops, ops come from lib/ops/index.ts, which also attaches the tensor methods',
      severity: 'error',
      from: { pathNot: '^lib/ops/' },
      to: { path: '^lib/ops/', pathNot: '^lib/ops/index\\.ts$' },
    },
    {
      name: 'no-file-cycles',
      comment: 'no import circle between files (type imports included) outside lib/ops: shared types live in a file both sides import',
      severity: 'error',
      from: { pathNot: '^lib/ops/' },
      to: { circular: true },
    },
    {
      name: 'browser-core-without-node',
      comment: 'the core runs in a browser: it reaches no Node built-in (lib/platform/host.ts takes them at run time instead)',
      severity: 'error',
      from: { path: BROWSER_CORE },
      to: { path: NODE_BUILTIN, reachable: true },
    },
    {
      name: 'folder-in-a-layer',
      comment: 'every folder of the library has its place in the layer table of .dependency-cruiser.cjs',
      severity: 'error',
      from: { path: OUR_CODE, pathNot: LAYERS.map(folderPath) },
      to: {},
    },
    ...layerRules,
  ],
  options: {
    // TypeScript 7's npm package has no compiler API: swc parses the sources
    // (type-only imports included, so type circles count).
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
