/**
 * The one power-cut mechanism of every stateful model (the RSE's OTP programming, the STM32
 * installs): the model calls {@link FaultPlan.point} before each persistent write, and a plan
 * made with `cutBefore = N` throws {@link PowerCut} before write N, so a test can cut the power at
 * every write and check what is left on reopening. A plan without `cutBefore` only counts.
 * @module
 */
import { RseError } from './errors.ts';

/** Thrown by a fault plan: the power went away before write `write` (1-based), `what`. */
export class PowerCut extends RseError {
  readonly write: number;
  readonly what: string;
  constructor(write: number, what: string) {
    super('E_POWER_CUT', `power cut before write ${write} (${what})`, { field: what });
    this.name = 'PowerCut';
    this.write = write;
    this.what = what;
  }
}

/** Counts persistent writes and cuts the power before number `cutBefore` (1-based). */
export class FaultPlan {
  count = 0;
  cutBefore: number | undefined;
  constructor(cutBefore?: number) {
    this.cutBefore = cutBefore;
  }
  /** A write is about to happen: count it, and cut the power here if the plan says so. */
  point(what: string): void {
    this.count++;
    if (this.cutBefore !== undefined && this.count === this.cutBefore) throw new PowerCut(this.count, what);
  }
}
