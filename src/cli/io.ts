// Where a command writes: the entry points pass process.stdout/stderr, tests collect the text.
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}
