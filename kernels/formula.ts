// One formula text, both compute paths.
//
// A kernel whose GPU.js version and CPU-path host loop compute the same thing
// is written once, as a short piece of JavaScript, with f32(...) around every
// value the GPU.js kernel on webasm holds as a float32 (webasm computes in
// float32, so that is the result of every arithmetic operation):
//   forGpuJs(text)  drops the marks: the kernel's float32 arithmetic rounds there
//   forHost(text)   makes them Math.fround: the JavaScript loop rounds at the
//                   same places, so it gives the webasm kernel's bits
// The element-wise table (elementwise.ts) is the exception: its formulas carry
// no marks, and their host loops round once, when the result is stored.
//
// Each kernel file substitutes its own reads (an array element, a size) into
// the text for each path; the formulas are this project's constant text, never
// user input, so compiling the host version with `new Function` is safe.

/** Marks dropped: the GPU.js kernel's own float32 arithmetic rounds where they stood. */
export function forGpuJs(formula: string): string {
  return formula.replaceAll('f32(', '(');
}

/** Marks turned into Math.fround: float32 rounding at the same places, in a JavaScript loop. */
export function forHost(formula: string): string {
  return formula.replaceAll('f32(', 'Math.fround(');
}

/** Replaces each call `name(expression)` in `text` (no nested parentheses inside) by `read(expression)`. */
export function substituteReads(text: string, name: string, read: (index: string) => string): string {
  return text.replace(new RegExp(`\\b${name}\\(([^()]*)\\)`, 'g'), (_, index: string) => read(index.trim()));
}

/** Compiles a host loop from generated source (see the file comment for why this is safe). */
export function compileHostLoop<F>(parameters: string[], body: string): F {
  return new Function(...parameters, body) as F;
}
