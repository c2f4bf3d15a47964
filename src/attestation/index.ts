/**
 * `rsekit/attestation`: PSA and CCA attestation tokens: decode and verify them, appraise them
 * against reference values and trust anchors (CoRIM) into an EAR, as Veraison does; write CoRIMs.
 *
 * @example Verify a PSA token with its IAK and appraise it against a CoRIM
 * ```ts
 * import { appraise, decodeEvidence, ecKeyFromPoint, MemoryStore, readCorim, verifyEvidence } from 'rsekit/attestation';
 *
 * const evidence = decodeEvidence(token);
 * verifyEvidence(evidence, ecKeyFromPoint(iakPublicPoint)); // throws E_SIGNATURE if forged
 * const result = await appraise(token, new MemoryStore().add(readCorim(corim)), { nonce });
 * console.log(result.status); // 'affirming' | 'warning' | 'contraindicated' | ...
 * ```
 * @module
 */
export type { TokenKey } from '../cose/keys.ts';
export { ecKeyFromPoint, keyFromCoseKey, keyFromJwk, loadTokenKey } from '../cose/keys.ts';
export type { Appraisal, AppraiseOptions, EndorsementStore, Scheme } from './appraise.ts';
export { appraise, MemoryStore } from './appraise.ts';
export type { CcaPlatformClaims, Claims, PsaClaims, RealmClaims, SwComponent } from './claims.ts';
export { CCA_PLATFORM_PROFILE, PSA_PROFILE, REALM_PROFILE } from './claims.ts';
export type { Endorsements, PlatformConfigReference, RealmReference, SwReference, TrustAnchor } from './corim.ts';
export { CORIM_PROFILE, mergeEndorsements, readCorim } from './corim.ts';
export type { CorimMeta, SignedCorim } from './corim-sign.ts';
export {
  checkCorimSigners,
  decodeSignedCorim,
  isSignedCorim,
  SIGNED_CORIM_CONTENT_TYPE,
  signCorim,
  verifySignedCorim,
} from './corim-sign.ts';
export type { CorimContent } from './corim-write.ts';
export { encodeCorim } from './corim-write.ts';
export type { CreateOptions } from './create.ts';
export { createToken } from './create.ts';
export type { Ear, EarStatus, TrustVector } from './ear.ts';
export { checkEar, EAR_PROFILE, signEar, verifyEar } from './ear.ts';
export type { DecodeOptions, Evidence, VerifyOptions } from './token.ts';
export { decodeEvidence, evidenceIdentity, verifyEvidence } from './token.ts';
