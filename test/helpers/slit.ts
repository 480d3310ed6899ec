// SLIT matrices used by fixtures, synthetic topologies and the lab: defined once, with the simulator's scenarios.
export { D2, D4, DL980 } from '../../src/sim/slit-tables.js';
