// A model folder on disk (Node). Files are opened as FileByteSources
// (positional reads) and written through a temporary file renamed into place.

import { IoError } from './byte-source.ts';
import { FileByteSource, type FileProducer, type NodeFs, type NodePath, errorCode, nodeFs, nodePath, writeFileAtomically } from './node-files.ts';
import type { FolderSink, ModelFolder } from './model-folder.ts';

export class DirectoryFolder implements ModelFolder, FolderSink {
  private constructor(
    /** The directory's path, as given. */
    readonly name: string,
    private readonly fs: NodeFs,
    private readonly path: NodePath,
  ) {}

  /** An existing directory to read; an IoError "not a folder" otherwise. */
  static open(dir: string): DirectoryFolder {
    const fs = nodeFs(dir);
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    if (stat === undefined) throw new IoError(dir, 'not a folder (nothing exists at that path)');
    if (!stat.isDirectory()) throw new IoError(dir, 'not a folder (it is a file)');
    return new DirectoryFolder(dir, fs, nodePath(dir));
  }

  /** A directory to write; it (and its parents) are created when the first file is written. */
  static forWriting(dir: string): DirectoryFolder {
    return new DirectoryFolder(dir, nodeFs(dir), nodePath(dir));
  }

  describe(file: string): string {
    return this.path.join(this.name, file);
  }

  list(): string[] {
    if (!this.fs.existsSync(this.name)) return [];
    return this.fs.readdirSync(this.name);
  }

  has(file: string): boolean {
    return this.fs.existsSync(this.describe(file));
  }

  open(file: string): FileByteSource {
    return FileByteSource.open(this.describe(file));
  }

  readText(file: string): string {
    try {
      return this.fs.readFileSync(this.describe(file), 'utf8');
    } catch (error) {
      throw new IoError(this.describe(file), `cannot read the file (${errorCode(error)})`);
    }
  }

  writeFile(file: string, produce: FileProducer): void {
    try {
      this.fs.mkdirSync(this.name, { recursive: true });
    } catch (error) {
      throw new IoError(this.name, `cannot create the folder (${errorCode(error)})`);
    }
    writeFileAtomically(this.describe(file), produce);
  }

  remove(file: string): void {
    this.fs.rmSync(this.describe(file), { force: true });
  }
}
