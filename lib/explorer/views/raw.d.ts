// Vite's `?raw` imports: a file's text as a string (the explorer shows the
// model's own source lines beside each step).
declare module '*?raw' {
  const text: string;
  export default text;
}
