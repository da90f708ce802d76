// The error for a command line that cannot be understood: main.ts prints the
// usage text after its message and exits with status 2.

export class UsageError extends Error {
  override name = 'UsageError';
}
