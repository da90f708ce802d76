// The golden manifests: golden/MANIFEST.json (the cases copied from
// ../shared/golden) and golden/project/MANIFEST.json (the cases this project
// made with golden/make_case.py, on the same models). Case files are named
// relative to golden/ in both; models live in golden/models/.

import { nodeBuiltin } from '../platform/host.ts';

type NodeFs = { readFileSync(file: string, encoding: 'utf8'): string };

export interface ManifestCase {
  name: string;
  model: string;
  kind: string;
  /** Relative to golden/. */
  file: string;
  sha256: string;
}

export interface ManifestModel {
  name: string;
  /** File name in golden/models/<name>/ -> its sha256. */
  files: Record<string, string>;
}

export interface GoldenManifest {
  models: ManifestModel[];
  cases: ManifestCase[];
}

/** The manifests under `goldenDir` relative to it: the shared one, then the project's. */
export const MANIFEST_FILES = ['MANIFEST.json', 'project/MANIFEST.json'];

/** Every model and case of both manifests (a missing manifest file is an error: nothing is skipped). */
export function readGoldenManifests(goldenDir: string): GoldenManifest {
  // (Node only: a page fetches the manifests itself; lib/platform/host.ts keeps node:fs out of its bundle)
  const fs = nodeBuiltin<NodeFs>('node:fs');
  if (fs === undefined) throw new Error(`readGoldenManifests: reading ${goldenDir} needs Node's file system; in a browser, fetch ${MANIFEST_FILES.join(' and ')}`);
  const merged: GoldenManifest = { models: [], cases: [] };
  for (const file of MANIFEST_FILES) {
    const manifest = JSON.parse(fs.readFileSync(`${goldenDir}/${file}`, 'utf8')) as Partial<GoldenManifest>;
    merged.models.push(...(manifest.models ?? []));
    merged.cases.push(...(manifest.cases ?? []));
  }
  return merged;
}
