// One training run per output folder: <out>/.lock, created with the 'wx' flag
// (fails if the file exists, atomically, also between processes), holding the
// owner's pid, host name and start time. A second run in the folder is refused
// with the lock's contents. A lock whose process is gone (same host, pid not
// alive) is stale: it is taken over, and the caller is told. A lock from
// another host cannot be checked from here, so it is only ever refused.
// Released when the run ends, by error too (callers release in `finally`,
// and a process that exits without releasing removes its locks on 'exit').

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TrainerError } from './trainer-options.ts';

export const LOCK_FILE = '.lock';

export interface LockOwner {
  pid: number;
  hostname: string;
  /** ISO time the lock was taken. */
  started: string;
}

export class RunLockedError extends TrainerError {
  override name = 'RunLockedError';
}

/** Locks this process holds: folder -> how many holders (the CLI and its trainer both take it). */
const held = new Map<string, number>();
let exitHookInstalled = false;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only checks that the process exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readOwner(file: string): LockOwner | null {
  try {
    const owner = JSON.parse(fs.readFileSync(file, 'utf8')) as LockOwner;
    return typeof owner.pid === 'number' && typeof owner.hostname === 'string' ? owner : null;
  } catch {
    return null; // unreadable or half-written: treated as a lock we cannot check
  }
}

const describeOwner = (o: LockOwner) => `pid ${o.pid} on ${o.hostname}, started ${o.started}`;

export interface RunLock {
  file: string;
  /** Set when a stale lock was taken over: what it said. */
  tookOverStale: LockOwner | null;
  release(): void;
}

/**
 * Takes `<dir>/.lock` (creating `dir`). Throws RunLockedError naming the lock
 * and its owner while another live process holds it. Re-entrant within a process.
 */
export function acquireRunLock(dir: string): RunLock {
  const folder = path.resolve(dir);
  const file = path.join(folder, LOCK_FILE);
  let tookOverStale: LockOwner | null = null;
  const count = held.get(folder) ?? 0;
  if (count === 0) {
    fs.mkdirSync(folder, { recursive: true });
    const owner: LockOwner = { pid: process.pid, hostname: os.hostname(), started: new Date().toISOString() };
    for (;;) {
      try {
        fs.writeFileSync(file, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const other = readOwner(file);
      if (other === null) {
        throw new RunLockedError(`${folder} is locked by ${file}, which cannot be read; if no run is using the folder, delete ${file}`);
      }
      if (other.hostname !== os.hostname() || processAlive(other.pid)) {
        throw new RunLockedError(
          `${folder} is in use by another training run (${file}: ${describeOwner(other)}); wait for it to end, or choose another --out` +
            (other.hostname === os.hostname() ? '' : ` (if that run is over, delete ${file})`),
        );
      }
      // Stale: its process is gone. Remove it and try again ('wx' decides if two runs race for it).
      tookOverStale = other;
      fs.rmSync(file, { force: true });
    }
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const f of held.keys()) fs.rmSync(path.join(f, LOCK_FILE), { force: true });
      });
    }
  }
  held.set(folder, count + 1);
  let released = false;
  return {
    file,
    tookOverStale,
    release() {
      if (released) return;
      released = true;
      const left = (held.get(folder) ?? 1) - 1;
      if (left > 0) {
        held.set(folder, left);
        return;
      }
      held.delete(folder);
      // Only our own lock is removed (another process may have taken a folder we left).
      if (readOwner(file)?.pid === process.pid) fs.rmSync(file, { force: true });
    },
  };
}

/** What a stale lock that was taken over said, in words. */
export function describeStaleLock(owner: LockOwner): string {
  return `took over a stale lock (${describeOwner(owner)}: no such process); that run ended without releasing it`;
}
