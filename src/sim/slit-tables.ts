// Published SLIT matrices the simulator's scenarios (and the tests' fixtures and lab) use: one definition each.

export const D2 = [
  [10, 21],
  [21, 10],
];

/** 4 sockets in two pairs: 12 inside a pair, 17 across (numad.md's D4, the NUMA talk's Westmere-EX box). */
export const D4 = [
  [10, 12, 17, 17],
  [12, 10, 17, 17],
  [17, 17, 10, 12],
  [17, 17, 12, 10],
];

/** HP ProLiant DL980 G7, as published: 10 12 17 17 19 19 19 19 … */
export const DL980 = [
  [10, 12, 17, 17, 19, 19, 19, 19],
  [12, 10, 17, 17, 19, 19, 19, 19],
  [17, 17, 10, 12, 19, 19, 19, 19],
  [17, 17, 12, 10, 19, 19, 19, 19],
  [19, 19, 19, 19, 10, 12, 17, 17],
  [19, 19, 19, 19, 12, 10, 17, 17],
  [19, 19, 19, 19, 17, 17, 10, 12],
  [19, 19, 19, 19, 17, 17, 12, 10],
];
