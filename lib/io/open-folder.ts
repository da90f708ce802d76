// A path or a folder object, as the loaders take it: a path is a directory on
// Node (DirectoryFolder); elsewhere it is an error saying what to pass
// instead. Kept apart from model-folder.ts (the interfaces), which the
// implementations import.

import { IoError, describeValue } from './byte-source.ts';
import { DirectoryFolder } from './directory-folder.ts';
import type { FolderSink, ModelFolder } from './model-folder.ts';

function isModelFolder(value: unknown): value is ModelFolder {
  const v = value as Partial<ModelFolder> | null;
  return typeof v === 'object' && v !== null && typeof v.open === 'function' && typeof v.list === 'function' && typeof v.readText === 'function';
}

function isFolderSink(value: unknown): value is FolderSink {
  const v = value as Partial<FolderSink> | null;
  return typeof v === 'object' && v !== null && typeof v.writeFile === 'function' && typeof v.list === 'function' && typeof v.remove === 'function';
}

/**
 * A folder to read: a path (a directory on Node; elsewhere an error that
 * says what to pass instead) or a ModelFolder, returned as it is.
 */
export function openModelFolder(source: string | ModelFolder): ModelFolder {
  if (typeof source === 'string') return DirectoryFolder.open(source);
  if (isModelFolder(source)) return source;
  throw new IoError('<model folder>', `expected a path or a ModelFolder (a DirectoryFolder or MemoryModelFolder), got ${describeValue(source)}`);
}

/** A folder to write: a path (a directory on Node, created when the first file is written) or a FolderSink. */
export function openFolderSink(target: string | FolderSink): FolderSink {
  if (typeof target === 'string') return DirectoryFolder.forWriting(target);
  if (isFolderSink(target)) return target;
  throw new IoError('<folder sink>', `expected a path or a FolderSink (a DirectoryFolder or MemoryModelFolder), got ${describeValue(target)}`);
}
