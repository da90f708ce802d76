// Runs dependency-cruiser with the layering rules of .dependency-cruiser.cjs
// and turns its violations into a report a reader can act on: each forbidden
// import once, with every rule it breaks and why; each import circle once; and
// for Node built-ins reached from the browser core, the files that import them
// (the tool names one path per core file and built-in, which can hide a
// second culprit behind the first).

import path from 'node:path';
import { cruise, type ICruiseResult, type IForbiddenRuleType, type IModule, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';

export const CORE_RULE = 'browser-core-without-node';
export const CYCLE_RULE = 'no-file-cycles';

export interface LayeringCheck {
  /** Every module the tool read, by path relative to the root. */
  modules: IModule[];
  violations: IViolation[];
  /** The report: empty when there is no violation. */
  report: string;
}

/** Cruises `folders` under `root` with the rules of `configFile` (paths relative to `root`). */
export async function checkLayering(root: string, configFile: string, folders: string[]): Promise<LayeringCheck> {
  const options = await extractDepcruiseOptions(path.resolve(configFile));
  const { output } = await cruise(folders, { ...options, baseDir: root });
  const result = output as ICruiseResult;
  const violations = result.summary.violations;
  const reasons = new Map((options.ruleSet?.forbidden ?? []).map((rule: IForbiddenRuleType) => [rule.name ?? '', rule.comment ?? '']));
  return { modules: result.modules, violations, report: formatReport(violations, result.modules, reasons) };
}

function formatReport(violations: IViolation[], modules: IModule[], reasons: Map<string, string>): string {
  const sections = [
    forbiddenImports(violations.filter((v) => v.rule.name !== CORE_RULE && v.rule.name !== CYCLE_RULE), reasons),
    importCircles(violations.filter((v) => v.rule.name === CYCLE_RULE), reasons),
    builtinsInCore(violations.filter((v) => v.rule.name === CORE_RULE), modules, reasons),
  ].filter((section) => section !== '');
  return sections.length === 0 ? '' : `layering violations (.dependency-cruiser.cjs):\n\n${sections.join('\n\n')}`;
}

/** `a.ts -> b.ts`, then each rule it breaks with its reason (the layer table's last: it restates the others). */
function forbiddenImports(violations: IViolation[], reasons: Map<string, string>): string {
  const rulesByImport = new Map<string, string[]>();
  for (const v of violations) {
    const key = `${v.from} -> ${v.to}`;
    rulesByImport.set(key, [...(rulesByImport.get(key) ?? []), v.rule.name]);
  }
  const layerLast = (a: string, b: string) => Number(a.startsWith('layer:')) - Number(b.startsWith('layer:')) || a.localeCompare(b);
  const lines = [...rulesByImport].sort().map(([key, rules]) => `  ${key}\n${rules.sort(layerLast).map((rule) => `      ${rule}: ${reasons.get(rule)}`).join('\n')}`);
  return lines.length === 0 ? '' : `forbidden imports (${lines.length}):\n${lines.join('\n')}`;
}

/** Each circle once (the tool reports every import on it), written from its first file in sort order. */
function importCircles(violations: IViolation[], reasons: Map<string, string>): string {
  const circles = new Set<string>();
  for (const v of violations) {
    const files = [v.from, ...(v.cycle ?? []).map((step) => step.name)];
    files.pop(); // the cycle ends where it started
    const start = files.indexOf([...files].sort()[0]);
    const rotated = [...files.slice(start), ...files.slice(0, start)];
    circles.add([...rotated, rotated[0]].join(' -> '));
  }
  if (circles.size === 0) return '';
  return `import circles (${circles.size}; ${CYCLE_RULE}: ${reasons.get(CYCLE_RULE)}):\n${[...circles].sort().map((c) => `  ${c}`).join('\n')}`;
}

/**
 * Every file the browser core reaches that imports a Node built-in itself,
 * with the built-ins, how many core files reach it and one path from one.
 */
function builtinsInCore(violations: IViolation[], modules: IModule[], reasons: Map<string, string>): string {
  if (violations.length === 0) return '';
  const builtins = new Set(violations.map((v) => v.to));
  const bySource = new Map(modules.map((m) => [m.source, m]));
  const culprits = new Map<string, { builtins: Set<string>; reachedFrom: Set<string>; example: string[] }>();
  for (const from of new Set(violations.map((v) => v.from))) {
    // Breadth first from one core file over our own modules: the first path found to a culprit is a shortest one.
    const pathTo = new Map<string, string[]>([[from, [from]]]);
    const queue = [from];
    while (queue.length > 0) {
      const source = queue.shift()!;
      for (const dependency of bySource.get(source)?.dependencies ?? []) {
        if (builtins.has(dependency.resolved)) {
          const culprit = culprits.get(source) ?? { builtins: new Set(), reachedFrom: new Set(), example: pathTo.get(source)! };
          culprit.builtins.add(dependency.resolved);
          culprit.reachedFrom.add(from);
          culprits.set(source, culprit);
        } else if (dependency.coreModule !== true && !pathTo.has(dependency.resolved)) {
          pathTo.set(dependency.resolved, [...pathTo.get(source)!, dependency.resolved]);
          queue.push(dependency.resolved);
        }
      }
    }
  }
  const lines = [...culprits].sort(([a], [b]) => a.localeCompare(b)).map(([file, c]) => {
    const via = c.example.length > 1 ? `, e.g. ${c.example.join(' -> ')}` : ' (itself among them)';
    return `  ${file} imports ${[...c.builtins].sort().join(', ')}; reached from ${c.reachedFrom.size} core file(s)${via}`;
  });
  return `Node built-ins in the browser core (${CORE_RULE}: ${reasons.get(CORE_RULE)}):\n${lines.join('\n')}`;
}
