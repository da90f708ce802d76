// Where each hook point is computed in lib/model/*.ts: the line of its
// `hooks.at('<point>'` (or `atEachHead(hooks, '<point>'` for the per-head
// attention points), found by searching the source text, so the page shows
// the lines that really ran, with no line numbers written down by hand.

/** The model file that fires a point, and the name it uses there (hooks are scoped per module). */
export interface PointSource {
  file: 'gemma2-model.ts' | 'decoder-layer.ts' | 'attention.ts' | 'mlp.ts' | 'causal-lm.ts';
  localName: string;
}

/** The file and local name of a full hook point name (`layers.2.attn.q` -> attention.ts, 'q'). */
export function pointSource(point: string): PointSource {
  const layer = /^layers\.\d+\.(.+)$/.exec(point);
  if (layer === null) return { file: point.startsWith('logits') ? 'causal-lm.ts' : 'gemma2-model.ts', localName: point };
  const local = layer[1];
  if (local.startsWith('attn.')) return { file: 'attention.ts', localName: local.slice('attn.'.length) };
  if (local.startsWith('mlp.')) return { file: 'mlp.ts', localName: local.slice('mlp.'.length) };
  return { file: 'decoder-layer.ts', localName: local };
}

export interface SourceExcerpt {
  file: string;
  /** 1-based line of the hook call. */
  line: number;
  /** 1-based line of the first line shown. */
  firstLine: number;
  /** The lines shown: the hook's line with a little context before and after. */
  lines: string[];
}

/**
 * The lines of `sourceText` (the file `file`) that compute the point `localName`:
 * the line holding its hook call, `context` lines either side. Throws, naming the
 * file and point, when the source holds no such call (the model was edited).
 */
export function findSourceLines(sourceText: string, file: string, localName: string, context = 2): SourceExcerpt {
  const lines = sourceText.split('\n');
  const calls = [`hooks.at('${localName}'`, `atEachHead(hooks, '${localName}'`];
  const index = lines.findIndex((text) => calls.some((call) => text.includes(call)));
  if (index < 0) throw new Error(`explorer: lib/model/${file} has no ${calls.join(' or ')}; the hook point's source cannot be shown`);
  const firstIndex = Math.max(0, index - context);
  const lastIndex = Math.min(lines.length - 1, index + context);
  return { file, line: index + 1, firstLine: firstIndex + 1, lines: lines.slice(firstIndex, lastIndex + 1) };
}

/** The excerpt for a full hook point name, given the model files' texts by file name. */
export function sourceOfPoint(point: string, sources: Readonly<Record<PointSource['file'], string>>): SourceExcerpt {
  const { file, localName } = pointSource(point);
  return findSourceLines(sources[file], file, localName);
}
