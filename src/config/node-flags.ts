/**
 * V8 flags the daemon runs with. --no-memory-reducer: an idle daemon allocates little, so V8's memory reducer is what
 * triggers its full GCs — a heap of ~20 MiB compacted to ~15 MiB every minute or two, about 0.6 s of CPU each on an
 * emulated guest (`--trace-gc` in the lab), most of the idle daemon's CPU. The heap stays ~15 MiB larger instead.
 * The one list: the numad command starts its daemon with it, and the Makefile reads it from the build for the
 * installed `numadvisor` script (src/install/numadvisor.sh) and `make run`.
 */
export const DAEMON_NODE_FLAGS = ['--no-memory-reducer'];
