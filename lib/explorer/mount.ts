// Hands the loaded model to the step-by-step views (views/explorer.ts, which
// exports mountExplorer). The views are looked up with import.meta.glob, so
// this page builds and runs while they are not in the tree: it then says so
// in place of them, and every other part of the page works.

import type { Gemma2ForCausalLM } from '../model/causal-lm.ts';
import type { HfTokenizer } from '../tokenizer/tokenizer.ts';

/** What views/explorer.ts's mountExplorer takes. */
export interface ExplorerContext {
  model: Gemma2ForCausalLM;
  tokenizer: HfTokenizer | null;
  backendName: string;
}

type ViewsModule = { mountExplorer: (root: HTMLElement, ctx: ExplorerContext) => void };
const views = import.meta.glob<ViewsModule>('./views/explorer.ts', { eager: true })['./views/explorer.ts'];

/** An error as one line: its name and message. */
export function formatError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

export function mountViews(root: HTMLElement, ctx: ExplorerContext): void {
  root.replaceChildren();
  if (views === undefined) {
    const note = document.createElement('p');
    note.className = 'placeholder';
    note.textContent = 'The step-by-step views (lib/explorer/views/explorer.ts) are not part of this build.';
    root.append(note);
    return;
  }
  try {
    views.mountExplorer(root, ctx);
  } catch (error) {
    const message = document.createElement('p');
    message.className = 'error';
    message.textContent = `The views could not show this model: ${formatError(error)}`;
    root.append(message);
  }
}
