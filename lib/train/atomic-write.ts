// Durable replacement of files and folders: write a temporary copy, fsync it,
// rename it into place, fsync the folder that holds it. A rename alone is
// atomic but not durable: after a power cut the new name may point at blocks
// that were never written (ext4's delayed allocation, the zero-length-file
// reports). The fsync of the data before the rename orders the two; the fsync
// of the folder makes the rename itself survive.

import fs from 'node:fs';
import path from 'node:path';

/** Flushes a file's data (or a folder's entries) to the disk. */
function fsyncPath(target: string): void {
  const fd = fs.openSync(target, 'r');
  try {
    fs.fsyncSync(fd);
  } catch (error) {
    // Windows cannot fsync a folder handle; its renames are journalled by NTFS.
    if (!(process.platform === 'win32' && fs.statSync(target).isDirectory())) throw error;
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` with `data`, durably: `file`.tmp-<pid> written and fsynced, renamed, the folder fsynced. */
export function writeFileDurably(file: string, data: string | Uint8Array): void {
  const temporary = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(temporary, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
  fsyncPath(path.dirname(file));
}

/**
 * Moves a completely written folder into place as `dir`, durably: every file
 * in it fsynced, the folder itself fsynced, an older `dir` removed, the rename,
 * then the parent fsynced. Until the rename `dir` is absent or the old one.
 */
export function commitFolderDurably(written: string, dir: string): void {
  for (const entry of fs.readdirSync(written, { withFileTypes: true })) {
    if (entry.isFile()) fsyncPath(path.join(written, entry.name));
  }
  fsyncPath(written);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(written, dir);
  fsyncPath(path.dirname(dir));
}
