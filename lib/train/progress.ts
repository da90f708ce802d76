// A progress bar for training on stderr: step, bar, loss, tokens/s and ETA.
// On a terminal it redraws one line in place (carriage return + clear to end
// of line) and prints notes (eval results, checkpoints) above it; anywhere
// else (a log file, CI) carriage returns would pile up, so it prints plain
// lines, one every `every` steps plus the first and the last.

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressUpdate {
  step: number;
  loss: number;
  tokensPerSecond: number;
}

/** 75 -> "1:15", 3725 -> "1:02:05". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const [h, m, r] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

export class ProgressBar {
  private readonly tty: boolean;
  private readonly every: number;
  private readonly now: () => number;
  private readonly startedAt: number;
  private firstStep: number | null = null;
  private line = '';

  constructor(
    readonly totalSteps: number,
    private readonly stream: ProgressStream = process.stderr,
    options: { every?: number; now?: () => number } = {},
  ) {
    this.tty = stream.isTTY === true;
    this.every = options.every ?? Math.max(1, Math.floor(totalSteps / 20));
    this.now = options.now ?? (() => performance.now() / 1000);
    this.startedAt = this.now();
  }

  /** Draws the bar after an optimizer step. */
  update(u: ProgressUpdate): void {
    // The ETA counts only this process's steps: a resumed run starts its clock again.
    if (this.firstStep === null) this.firstStep = u.step - 1;
    const done = u.step - this.firstStep;
    const perStep = (this.now() - this.startedAt) / done;
    const eta = formatDuration(perStep * (this.totalSteps - u.step));
    const percent = Math.floor((100 * u.step) / this.totalSteps);
    const counter = `${String(u.step).padStart(String(this.totalSteps).length)}/${this.totalSteps}`;
    const stats = `loss ${u.loss.toFixed(4)}  ${u.tokensPerSecond.toFixed(0)} tok/s  ETA ${eta}`;
    if (!this.tty) {
      if (u.step === this.firstStep + 1 || u.step % this.every === 0 || u.step === this.totalSteps) this.stream.write(`step ${counter} ${percent}%  ${stats}\n`);
      return;
    }
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - counter.length - stats.length - 12));
    const filled = Math.round((width * u.step) / this.totalSteps);
    const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? (filled === width ? '=' : '>') : ''}${' '.repeat(width - filled)}`;
    this.line = `${counter} [${bar}] ${String(percent).padStart(3)}%  ${stats}`;
    this.stream.write(`\r${this.line}\x1b[K`);
  }

  /** A line of its own (an eval result, a saved checkpoint); on a terminal the bar is redrawn below it. */
  note(text: string): void {
    if (!this.tty) {
      this.stream.write(`${text}\n`);
      return;
    }
    this.stream.write(`\r\x1b[K${text}\n${this.line}`);
  }

  /** Ends the bar's line. */
  finish(): void {
    if (this.tty && this.line !== '') this.stream.write('\n');
    this.line = '';
  }
}
