/**
 * Attestation claim sets: PSA (PSA_IOT_PROFILE_1, http://arm.com/psa/2.0.0 and RFC 9783's
 * tag:psacertified.org,2023:psa#tfm), the CCA platform token (cca_platform#1.0.0 and the legacy
 * CCA-SSD/1.0.0) and the CCA realm token (legacy, realm#1.0.0, realm#2.0.0).
 *
 * One table per profile maps each claim to its CBOR key and to the JSON name Veraison uses, so the
 * same validator checks a decoded token and a JSON claim set, and the same table writes both.
 * Validation stops at the first problem with an `E_CLAIMS` error whose field is the claim's JSON
 * name; lenient mode turns the rules upstream verifiers disagree on into warnings.
 * @module
 */

export type Mode = 'strict' | 'lenient';

/** The PSA token profiles rsekit reads: PSA_IOT_PROFILE_1, `http://arm.com/psa/2.0.0` and RFC 9783's TF-M profile. */
export const PSA_PROFILE = {
  P1: 'PSA_IOT_PROFILE_1',
  P2: 'http://arm.com/psa/2.0.0',
  TFM: 'tag:psacertified.org,2023:psa#tfm',
} as const;
export type PsaProfile = (typeof PSA_PROFILE)[keyof typeof PSA_PROFILE];

/**
 * The CCA platform token profiles rsekit reads: `cca_platform#1.0.0`, the legacy CCA-SSD one, and
 * the 2024 `cca_platform#2.0.0` (draft-ffm-rats-cca-token-03: client id, manufacturing config,
 * extension devices, TBB ROTPKs and peer signers).
 */
export const CCA_PLATFORM_PROFILE = {
  CURRENT: 'tag:arm.com,2023:cca_platform#1.0.0',
  LEGACY: 'http://arm.com/CCA-SSD/1.0.0',
  V2: 'tag:arm.com,2024:cca_platform#2.0.0',
} as const;
export type CcaPlatformProfile = (typeof CCA_PLATFORM_PROFILE)[keyof typeof CCA_PLATFORM_PROFILE];

/** The CCA realm token profiles rsekit reads. */
export const REALM_PROFILE = { V1: 'tag:arm.com,2023:realm#1.0.0', V2: 'tag:arm.com,2024:realm#2.0.0' } as const;
/** A realm profile, or 'legacy' for the profile-less realm token of the RMM beta spec. */
export type RealmProfile = (typeof REALM_PROFILE)[keyof typeof REALM_PROFILE] | 'legacy';

/** One software component (PSA and CCA platform tokens). */
export interface SwComponent {
  readonly measurementType?: string;
  readonly measurementValue: Uint8Array;
  readonly version?: string;
  readonly signerId?: Uint8Array;
  readonly measurementDescription?: string;
}

/** The claims of a PSA attestation token, validated. */
export interface PsaClaims {
  readonly kind: 'psa';
  readonly profile: PsaProfile;
  /** The profile claim as carried (P1's is optional and may differ in lenient mode). */
  readonly profileClaim: string | undefined;
  readonly nonce: Uint8Array;
  readonly instanceId: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly clientId: number;
  readonly lifecycle: number;
  readonly bootSeed: Uint8Array | undefined;
  readonly certificationReference: string | undefined;
  readonly swComponents: readonly SwComponent[];
  readonly noSwMeasurements: boolean;
  readonly verificationService: string | undefined;
}

/** The claims of a CCA platform token, validated. */
export interface CcaPlatformClaims {
  readonly kind: 'cca-platform';
  readonly profile: CcaPlatformProfile;
  readonly challenge: Uint8Array;
  readonly implementationId: Uint8Array;
  readonly instanceId: Uint8Array;
  readonly config: Uint8Array;
  readonly lifecycle: number;
  readonly swComponents: readonly SwComponent[];
  readonly verificationService: string | undefined;
  readonly hashAlgId: string;
  /** cca_platform#2.0.0: the client id (1), and the optional claims of that profile. */
  readonly clientId?: number;
  readonly manufacturingConfig?: Uint8Array;
  readonly extension?: readonly ExtensionDevice[];
  readonly tbbRotpk?: readonly TbbRotpk[];
  readonly peerSigners?: Uint8Array;
}

/** One TBB ROTPK of a cca_platform#2.0.0 token (keys 1..4, all required). */
export interface TbbRotpk {
  readonly name: string;
  readonly activeArrayIndex: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

/** One extension device of a cca_platform#2.0.0 token (keys 1..8). */
export interface ExtensionDevice {
  readonly hashAlgId?: string;
  readonly deviceMeasurementsDigest: Uint8Array;
  readonly certificateChainDigest: Uint8Array;
  readonly usesIde: boolean;
  readonly protocol: string;
  readonly vcaDigest?: Uint8Array;
  readonly deviceType: string;
  readonly encryptionType?: number;
}

/**
 * The two readings of `realm#2.0.0` verifiers disagree on: TF-M tools' iat-verifier (what TF-RMM
 * emits: MEC policy an integer, the realm instance id present) and Veraison's rust-ccatoken (MEC
 * policy "private" or "shared", no instance id). Each is `true` when the token satisfies it, else
 * the reason it does not.
 */
export interface RealmReadings {
  readonly 'tf-m-tools': true | string;
  readonly veraison: true | string;
}

/** Who each reading is (for messages). */
export const REALM_READING_NAMES: Readonly<Record<keyof RealmReadings, string>> = {
  'tf-m-tools': "TF-M tools' iat-verifier (TF-RMM's form)",
  veraison: "Veraison's rust-ccatoken",
};

/** The claims of a CCA realm token, validated. */
export interface RealmClaims {
  readonly kind: 'realm';
  readonly profile: RealmProfile;
  readonly challenge: Uint8Array;
  readonly instanceId: Uint8Array | undefined;
  readonly personalizationValue: Uint8Array;
  readonly initialMeasurement: Uint8Array;
  readonly extensibleMeasurements: readonly Uint8Array[];
  readonly hashAlgId: string;
  /** The public-key claim's bytes exactly as carried (the binding hashes these). */
  readonly publicKey: Uint8Array;
  /** 'cose-key' (profiles) or 'raw' (legacy SEC1 point). */
  readonly publicKeyForm: 'cose-key' | 'raw';
  readonly publicKeyHashAlgId: string;
  /** An integer (0 shared, 1 private: TF-RMM) or "shared"/"private" (rust-ccatoken). */
  readonly mecPolicy: number | string | undefined;
  /** realm#2.0.0: which verifiers' readings the token satisfies. */
  readonly readings?: RealmReadings;
}

export type Claims = PsaClaims | CcaPlatformClaims | RealmClaims;

/** What a validation noticed without failing (lenient mode, deprecated profiles). */
export type Warnings = string[];

// ---------------------------------------------------------------------------------------------
// Claim tables

export type ClaimType = 'bytes' | 'text' | 'int' | 'uint' | 'swcomps' | 'bytes-array' | 'items' | 'any';
export interface ClaimDef {
  readonly key: number;
  readonly json: string;
  readonly type: ClaimType;
}

export const def = (key: number, json: string, type: ClaimType): ClaimDef => ({ key, json, type });

export type PsaField =
  | 'profile'
  | 'clientId'
  | 'lifecycle'
  | 'implementationId'
  | 'bootSeed'
  | 'certificationReference'
  | 'swComponents'
  | 'noSwMeasurements'
  | 'nonce'
  | 'instanceId'
  | 'verificationService';

export const PSA_P2_TABLE: Readonly<Partial<Record<PsaField, ClaimDef>>> = {
  profile: def(265, 'eat-profile', 'text'),
  clientId: def(2394, 'psa-client-id', 'int'),
  lifecycle: def(2395, 'psa-security-lifecycle', 'uint'),
  implementationId: def(2396, 'psa-implementation-id', 'bytes'),
  bootSeed: def(2397, 'psa-boot-seed', 'bytes'),
  certificationReference: def(2398, 'psa-certification-reference', 'text'),
  swComponents: def(2399, 'psa-software-components', 'swcomps'),
  nonce: def(10, 'psa-nonce', 'any'),
  instanceId: def(256, 'psa-instance-id', 'bytes'),
  verificationService: def(2400, 'psa-verification-service-indicator', 'text'),
};

/** The claim tables of the three PSA profiles. */
export const PSA_TABLES: Readonly<Record<PsaProfile, Readonly<Partial<Record<PsaField, ClaimDef>>>>> = {
  [PSA_PROFILE.P1]: {
    profile: def(-75000, 'psa-profile', 'text'),
    clientId: def(-75001, 'psa-client-id', 'int'),
    lifecycle: def(-75002, 'psa-security-lifecycle', 'uint'),
    implementationId: def(-75003, 'psa-implementation-id', 'bytes'),
    bootSeed: def(-75004, 'psa-boot-seed', 'bytes'),
    certificationReference: def(-75005, 'psa-hwver', 'text'),
    swComponents: def(-75006, 'psa-software-components', 'swcomps'),
    noSwMeasurements: def(-75007, 'psa-no-software-measurements', 'uint'),
    nonce: def(-75008, 'psa-nonce', 'any'),
    instanceId: def(-75009, 'psa-instance-id', 'bytes'),
    verificationService: def(-75010, 'psa-verification-service-indicator', 'text'),
  },
  [PSA_PROFILE.P2]: PSA_P2_TABLE,
  [PSA_PROFILE.TFM]: { ...PSA_P2_TABLE, bootSeed: def(268, 'psa-boot-seed', 'bytes') },
};

export type CcaField =
  | 'profile'
  | 'challenge'
  | 'implementationId'
  | 'instanceId'
  | 'config'
  | 'lifecycle'
  | 'swComponents'
  | 'verificationService'
  | 'hashAlgId'
  | 'clientId'
  | 'manufacturingConfig'
  | 'extension'
  | 'tbbRotpk'
  | 'peerSigners';

export const CCA_PLATFORM_TABLE: Readonly<Record<CcaField, ClaimDef>> = {
  profile: def(265, 'cca-platform-profile', 'text'),
  challenge: def(10, 'cca-platform-challenge', 'any'),
  implementationId: def(2396, 'cca-platform-implementation-id', 'bytes'),
  instanceId: def(256, 'cca-platform-instance-id', 'bytes'),
  config: def(2401, 'cca-platform-config', 'bytes'),
  lifecycle: def(2395, 'cca-platform-lifecycle', 'uint'),
  swComponents: def(2399, 'cca-platform-sw-components', 'swcomps'),
  verificationService: def(2400, 'cca-platform-service-indicator', 'text'),
  hashAlgId: def(2402, 'cca-platform-hash-algo-id', 'text'),
  clientId: def(2394, 'cca-platform-client-id', 'int'),
  manufacturingConfig: def(2403, 'cca-platform-manufacturing-config', 'bytes'),
  extension: def(2404, 'cca-platform-extension', 'items'),
  tbbRotpk: def(2405, 'cca-platform-tbb-rotpk', 'items'),
  peerSigners: def(2406, 'cca-platform-peer-signers', 'bytes'),
};

/**
 * What each CCA platform profile adds to the claims every one carries: the claims it requires and
 * those it allows beyond them, and whether it is deprecated. (The instance id is a RAND UEID in all.)
 */
export const CCA_PLATFORM_RULES: Readonly<
  Record<CcaPlatformProfile, { readonly requires: readonly CcaField[]; readonly allows: readonly CcaField[]; readonly deprecated: boolean }>
> = {
  [CCA_PLATFORM_PROFILE.LEGACY]: { requires: [], allows: [], deprecated: true },
  [CCA_PLATFORM_PROFILE.CURRENT]: { requires: [], allows: [], deprecated: false },
  [CCA_PLATFORM_PROFILE.V2]: {
    requires: ['clientId'],
    allows: ['manufacturingConfig', 'extension', 'tbbRotpk', 'peerSigners'],
    deprecated: false,
  },
};

/**
 * The realm profiles a platform profile pairs with in what TF-RMM emits (an other pairing is read,
 * with a warning).
 */
export const CCA_REALM_PAIRING: Readonly<Record<CcaPlatformProfile, readonly RealmProfile[]>> = {
  [CCA_PLATFORM_PROFILE.LEGACY]: ['legacy'],
  [CCA_PLATFORM_PROFILE.CURRENT]: [REALM_PROFILE.V1, REALM_PROFILE.V2],
  [CCA_PLATFORM_PROFILE.V2]: [REALM_PROFILE.V2],
};

export type RealmField =
  | 'profile'
  | 'challenge'
  | 'instanceId'
  | 'personalizationValue'
  | 'initialMeasurement'
  | 'extensibleMeasurements'
  | 'hashAlgId'
  | 'publicKey'
  | 'publicKeyHashAlgId'
  | 'mecPolicy';

export const REALM_TABLE: Readonly<Record<RealmField, ClaimDef>> = {
  profile: def(265, 'cca-realm-profile', 'text'),
  challenge: def(10, 'cca-realm-challenge', 'any'),
  instanceId: def(256, 'cca-realm-instance-id', 'bytes'),
  personalizationValue: def(44235, 'cca-realm-personalization-value', 'bytes'),
  initialMeasurement: def(44238, 'cca-realm-initial-measurement', 'bytes'),
  extensibleMeasurements: def(44239, 'cca-realm-extensible-measurements', 'bytes-array'),
  hashAlgId: def(44236, 'cca-realm-hash-algo-id', 'text'),
  publicKey: def(44237, 'cca-realm-public-key', 'bytes'),
  publicKeyHashAlgId: def(44240, 'cca-realm-public-key-hash-algo-id', 'text'),
  mecPolicy: def(44243, 'cca-realm-mec-policy', 'int'),
};

/** Software component fields: CBOR key and JSON name (RFC 9783 §4.4.1). */
export const SW = {
  measurementType: def(1, 'measurement-type', 'text'),
  measurementValue: def(2, 'measurement-value', 'bytes'),
  version: def(4, 'version', 'text'),
  signerId: def(5, 'signer-id', 'bytes'),
  measurementDescription: def(6, 'measurement-description', 'text'),
} as const;

/** IANA Named Information hash names accepted in hash-algorithm claims. */
export const HASH_NAMES: ReadonlySet<string> = new Set([
  'sha-224',
  'sha-256',
  'sha-384',
  'sha-512',
  'sha-512/224',
  'sha-512/256',
  'sha3-224',
  'sha3-256',
  'sha3-384',
  'sha3-512',
]);

// ---------------------------------------------------------------------------------------------
// Lifecycle

export const LIFECYCLE_STATES: readonly [number, string, string][] = [
  [0x00, 'unknown', 'unknown'],
  [0x10, 'assembly-and-test', 'assembly-and-test'],
  [0x20, 'psa-rot-provisioning', 'cca-platform-rot-provisioning'],
  [0x30, 'secured', 'secured'],
  [0x40, 'non-psa-rot-debug', 'non-cca-platform-rot-debug'],
  [0x50, 'recoverable-psa-rot-debug', 'recoverable-cca-platform-rot-debug'],
  [0x60, 'decommissioned', 'decommissioned'],
];

/** The security lifecycle state's name (PSA or CCA vocabulary), or undefined when the value is invalid. */
export function lifecycleName(v: number, vocab: 'psa' | 'cca' = 'psa'): string | undefined {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) return undefined;
  const s = LIFECYCLE_STATES.find(([major]) => major === v >> 8);
  return s === undefined ? undefined : vocab === 'psa' ? s[1] : s[2];
}

/** Whether reports of a device in this state can be trusted: secured or non-RoT debug (RFC 9783). */
export function lifecycleTrustworthy(v: number): boolean {
  return v >> 8 === 0x30 || v >> 8 === 0x40;
}
