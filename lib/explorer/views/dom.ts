// Small DOM helpers the views share: make an element with text, attributes
// and children in one call, and show an error where a view would be.

export type Child = Node | string | null | undefined;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined) element.append(child);
  return element;
}

export function button(label: string, onClick: () => void, attributes: Record<string, string> = {}): HTMLButtonElement {
  const b = el('button', { type: 'button', ...attributes }, label);
  b.addEventListener('click', onClick);
  return b;
}

/** A labelled <select> over `options` (value, label), calling `onChange` with the chosen value. */
export function select(label: string, options: [string, string][], value: string, onChange: (value: string) => void, attributes: Record<string, string> = {}): HTMLLabelElement {
  const s = el('select', attributes, ...options.map(([v, text]) => el('option', { value: v }, text)));
  s.value = value;
  s.addEventListener('change', () => onChange(s.value));
  return el('label', {}, `${label} `, s);
}

/** Replaces `container`'s content with what `render` builds, or with the error it throws (a view never leaves a half-drawn panel). */
export function renderInto(container: HTMLElement, render: () => Child | Child[]): void {
  try {
    const content = render();
    container.replaceChildren(...(Array.isArray(content) ? content : [content]).filter((c): c is Node | string => c !== null && c !== undefined));
  } catch (error) {
    container.replaceChildren(el('p', { class: 'explorer-error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
  }
}

/** A number for display: 4 significant digits, exponent form when very large or small. */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(3);
  return x.toPrecision(4);
}
