// Where a command writes: the entry points pass process.stdout/stderr, tests collect the text.
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** whether stderr is a terminal (progress is shown there by default); false when unset */
  stderrIsTTY?: boolean;
}
