/**
 * What an OTP integrity check reports: the check that failed, where, and the stored and
 * recomputed zero counts.
 * @module
 */

/** One failed integrity check: which area, and the stored and recomputed zero counts. */
export interface IntegrityProblem {
  readonly check: string;
  readonly offset: number;
  readonly stored: number;
  readonly computed: number;
}
