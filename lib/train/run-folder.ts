// A training run's output folder: what the trainer writes there, and the
// operations on it as a whole: the checkpoints it holds (complete ones only),
// keeping the newest N of them (Transformers' save_total_limit, the best one
// spared), reading the log back for a resumed run, and clearing the run's
// files to start it again (--overwrite).
//
//   <out>/train_log.jsonl  loss.svg  .lock  checkpoint-<step>/  checkpoint-<step>.partial/

import fs from 'node:fs';
import path from 'node:path';
import { LOG_FILE, PLOT_FILE, type LogEntry } from './train-log.ts';
import { TrainerError } from './trainer-options.ts';
import { TRAINER_STATE_FILE } from './checkpoint.ts';

const CHECKPOINT_NAME = /^checkpoint-(\d+)$/;
const PARTIAL_NAME = /^checkpoint-\d+\.partial$/;

/** Steps of the complete checkpoints in `outDir` (a folder named checkpoint-<step> with its trainer_state.json), ascending. */
export function listCheckpoints(outDir: string): number[] {
  if (!fs.existsSync(outDir)) return [];
  return fs
    .readdirSync(outDir, { withFileTypes: true })
    .flatMap((e) => {
      const m = CHECKPOINT_NAME.exec(e.name);
      return m !== null && e.isDirectory() && fs.existsSync(path.join(outDir, e.name, TRAINER_STATE_FILE)) ? [Number(m[1])] : [];
    })
    .sort((a, b) => a - b);
}

/**
 * Deletes all but the newest `limit` checkpoints of `outDir`, never `keep`
 * (the best checkpoint), as Transformers' _rotate_checkpoints: the best one
 * counts among the kept, so with limit 1 and an older best, two remain.
 * Returns the deleted folders.
 */
export function rotateCheckpoints(outDir: string, limit: number, keep: string | null): string[] {
  const folders = listCheckpoints(outDir).map((step) => path.resolve(outDir, `checkpoint-${step}`));
  const kept = new Set(folders.slice(-limit));
  if (keep !== null && folders.includes(path.resolve(keep)) && !kept.has(path.resolve(keep))) {
    kept.add(path.resolve(keep));
    // the best takes the place of the oldest of the newest, unless only one was asked for (then both stay)
    if (limit > 1) kept.delete(folders.slice(-limit)[0]);
  }
  const deleted = folders.filter((f) => !kept.has(f));
  for (const f of deleted) fs.rmSync(f, { recursive: true, force: true });
  return deleted;
}

export interface RunFolderContents {
  hasLog: boolean;
  checkpoints: number[];
}

export function runFolderContents(outDir: string): RunFolderContents {
  return { hasLog: fs.existsSync(path.join(outDir, LOG_FILE)), checkpoints: listCheckpoints(outDir) };
}

/**
 * Removes what a run wrote to `outDir` (the log, the plot, checkpoint folders,
 * half-written ones included) and nothing else: other files stay, and so does
 * the lock, which the caller holds. Returns the names removed.
 */
export function clearRunFiles(outDir: string): string[] {
  if (!fs.existsSync(outDir)) return [];
  const removed = fs.readdirSync(outDir).filter((name) => name === LOG_FILE || name === PLOT_FILE || CHECKPOINT_NAME.test(name) || PARTIAL_NAME.test(name));
  for (const name of removed) fs.rmSync(path.join(outDir, name), { recursive: true, force: true });
  return removed.sort();
}

/** The log's entries up to and including `step`, or null when the file is missing; a line that is not JSON is an error naming it. */
export function readLogHistory(file: string, step: number): LogEntry[] | null {
  if (!fs.existsSync(file)) return null;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const entries: LogEntry[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      // a line cut short by a kill mid-append is the last one; anywhere else the file is damaged
      if (i === lines.length - 1 || lines.slice(i + 1).every((l) => l.trim() === '')) return;
      throw new TrainerError(`${file}:${i + 1}: not a JSON log line`);
    }
    if (entry.step <= step) entries.push(entry);
  });
  return entries;
}
