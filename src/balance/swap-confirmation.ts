// A swap moves two processes' memory at once, and it has no CPU-first probation (both sides migrate together), so it
// is acted on only when two cycles in a row propose the same one: the second cycle's reading is its probation.
import type { PlannedMove } from './plan.js';

export class SwapConfirmation {
  /** the swap the previous cycle proposed */
  private proposed: string | undefined;

  /**
   * Given each cycle's first move: whether to act on it now. Anything but a swap is acted on at once; a swap only when
   * the previous cycle proposed the same exchange. A cycle without a swap forgets the proposal.
   */
  admits(move: PlannedMove | undefined): boolean {
    const key = move?.kind === 'swap' ? `${move.pid}>${move.toNodeset} ${move.partner?.pid}>${move.partner?.toNodeset}` : undefined;
    const confirmed = key !== undefined && key === this.proposed;
    this.proposed = confirmed ? undefined : key;
    return move?.kind !== 'swap' || confirmed;
  }
}
