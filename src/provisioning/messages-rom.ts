/**
 * BL1_1's provisioning by messages (TF-M 2.3.1 `provisioning/bl1_1_provisioning.c`,
 * `rse_provisioning_message_handler.c`, `rse_provisioning_auth_message_handler.c`,
 * `rse_provisioning_aes_key.c`, `rse_provisioning_rotpk.c`) and the native semantics of the CM,
 * DM and combined blobs' `do_provision` (`bundle/cm_provisioning_code.c`, `dm_provisioning_code.c`,
 * `combined_provisioning_code.c`). Every check the ROM makes is made in its order and fails with
 * its `tfm_plat_err_t` name and number; the blob is authenticated and decrypted exactly as the ROM
 * does, but its Cortex-M code is not executed: what it would do is done here, write for write.
 * @module
 */
import { EC_SPKI_PREFIX } from '../crypto/asym.ts';
import { ecdsaVerifyParts } from '../crypto/ecdsa-digest.ts';
import { aesCcmDecrypt, aesCtr, hash, importRawPublicKey } from '../crypto/index.ts';
import type { Device } from '../device/device.ts';
import { readU32le } from '../lib/bytes.ts';
import { isRseError } from '../lib/errors.ts';
import { hex0x } from '../lib/hex.ts';
import type { LcsName } from '../otp/lcm.ts';
import { rotpkArrayIndex, writeSocAreaInfo } from '../otp/zero-count-2.3.ts';
import { RSE_2_3_OTP_CONFIG } from '../profiles/otp-rse-2.3.ts';
import type { MessageProvisioning } from '../profiles/types.ts';
import { doCmProvision, doDmProvision, type Unpacked, valuesOffset } from './blob-code-2.3.ts';
import { BLOB_AUTH_HEADER_SIZE, MESSAGE_HEADER_SIZE, PROVISIONING_MESSAGE_TYPE } from './message.ts';
import {
  type BlobFlow,
  bits,
  H,
  krtlOrZero,
  LCS_BIT,
  messageArea,
  provisioningKey23,
  ROM_ROTPK_FILE,
  rsekitCodeOf,
  VALUES_SIZE,
} from './message-shape-2.3.ts';
import { plainDataHandler } from './plain-data-2.3.ts';
import { PROVISIONING_ERROR, Refused, refuse } from './refusal-2.3.ts';
import { describeFailure, type RigInput, type RomEvent, type RomOutcome } from './rom.ts';

export type { Unpacked } from './blob-code-2.3.ts';
export {
  type BlobFlow,
  bits,
  H,
  LCS_BIT,
  messageArea,
  provisioningKey23,
  ROM_ROTPK_FILE,
  RSEKIT_PROVISIONING_CODE_MAGIC,
  rsekitProvisioningCode,
  stageMessage,
  VALUES_SIZE,
} from './message-shape-2.3.ts';
export { PROVISIONING_ERROR, type ProvisioningErrorName, Refused, refuse } from './refusal-2.3.ts';

/**
 * The blob handler's context (`default_blob_authenticated_data_handler_ctx_t`): whether the message
 * came through a chained loader (`message_is_chainloaded`), whose `aes_setup_key` reuses the key
 * the loader's message set up and whose `get_rotpk` is the ROM's key; and the rig, which answers
 * when a blob's code asks for the next message (`rse_provisioning_get_message`).
 */
export interface BlobContext {
  readonly chained: boolean;
  /** A chained message: the provisioning key the loader set up (none if nothing in it was encrypted). */
  readonly loaderKey?: Uint8Array | undefined;
  readonly rig: RigInput;
}

/** `validate_and_unpack_message` for a blob: sizes, then the CCM tag or the ECDSA signature. */
export function validateAndUnpack(
  dev: Device,
  cfg: MessageProvisioning,
  m: Uint8Array,
  msgSize: number,
  lcs: LcsName,
  ctx?: BlobContext,
): Unpacked {
  const u = (o: number): number => readU32le(m, o);
  const [code, data, values] = [u(H.codeSize), u(H.dataSize), u(H.valuesSize)];
  const rest = msgSize - BLOB_AUTH_HEADER_SIZE;
  if (msgSize < BLOB_AUTH_HEADER_SIZE || code > rest || data > rest - code || values !== rest - code - data)
    refuse(
      'PROVISIONING_AUTH_MSG_INVALID_SIZE',
      `code ${code} + data ${data} + values ${values} do not fill the ${rest} bytes after the header`,
      H.codeSize,
    );
  const metadata = u(H.metadata);
  const sigConfig = bits(metadata, 28, 2);
  const symmetricConfig = sigConfig === 1;
  const ecdsaConfig = sigConfig === 2 || sigConfig === 3;
  if ((cfg.symmetric && !symmetricConfig) || (!cfg.symmetric && !ecdsaConfig))
    refuse('PROVISIONING_SIGNATURE_TYPE_NOT_SUPPORTED', `signature config ${sigConfig} is not one this ROM was built for`, H.metadata);
  const sigSize = u(H.sigSize);
  if (symmetricConfig && sigSize < 16)
    refuse('PROVISIONING_AUTH_MSG_INVALID_TAG_LEN', `signature_size ${sigSize} is shorter than the 16-byte tag`, H.sigSize);
  if (code > cfg.codeMax) refuse('PROVISIONING_AUTH_MSG_INVALID_CODE_SIZE', `code_size ${code} exceeds ${cfg.codeMax}`, H.codeSize);
  if (data > cfg.dataMax) refuse('PROVISIONING_AUTH_MSG_INVALID_DATA_SIZE', `data_size ${data} exceeds ${cfg.dataMax}`, H.dataSize);
  if (values > cfg.valuesMax)
    refuse('PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE', `secret_values_size ${values} exceeds ${cfg.valuesMax}`, H.valuesSize);
  const codeDataAes = bits(metadata, 0, 2) === 1;
  const secretsAes = bits(metadata, 2, 2) === 1;
  if (codeDataAes && !secretsAes)
    refuse('PROVISIONING_AUTH_MSG_INVALID_DECRYPTION_CONFIG', 'code and data are encrypted but the secret values are not', H.metadata);
  const header148 = m.subarray(H.metadata, H.body);
  const bodyAt = H.body;
  const encLen = (codeDataAes ? code + data : 0) + (secretsAes ? values : 0);
  const clearLen = code + data + values - encLen;
  const clear = m.subarray(bodyAt, bodyAt + clearLen);
  const cipher = m.subarray(bodyAt + clearLen, bodyAt + clearLen + encLen);
  let key: Uint8Array | undefined;
  if (symmetricConfig || encLen > 0) {
    if (ctx?.chained === true) {
      // The chained loader's `aes_setup_key` takes the KMU slot as the loader's message left it.
      key = ctx.loaderKey ?? new Uint8Array(32);
    } else key = setupAesKey(dev, m, lcs);
  }
  let plain: Uint8Array;
  const iv = m.slice(H.iv, H.iv + 8);
  if (symmetricConfig) {
    const p = aesCcmDecrypt(key as Uint8Array, iv, Buffer.concat([header148, clear]), cipher, m.slice(H.sig, H.sig + 16));
    if (p === undefined)
      refuse('PSA_ERROR_INVALID_SIGNATURE', `the AES-CCM tag does not authenticate the message${noLoaderKey(ctx)}`, H.sig);
    plain = p as Uint8Array;
  } else {
    plain = encLen > 0 ? aesCtr(key as Uint8Array, Uint8Array.of(...iv, 0, 0, 0, 0, 0, 0, 0, 0), cipher) : new Uint8Array(0);
    const body = new Uint8Array(Buffer.concat([clear, plain]));
    const point = ctx?.chained === true ? romRotpk(dev, cfg) : rotpkFor(dev, cfg, m, lcs);
    const n = cfg.curve === 'P-256' ? 32 : 48;
    const sig = m.slice(H.sig, H.sig + Math.min(sigSize, 96));
    let verified = false;
    try {
      const pub = importRawPublicKey(cfg.curve === 'P-256' ? 'ecdsa-p256' : 'ecdsa-p384', Uint8Array.of(4, ...point));
      verified = sig.length === 2 * n && ecdsaVerifyParts(pub, sig, header148, body);
    } catch (e) {
      if (!isRseError(e)) throw e;
    }
    if (!verified)
      refuse(
        'PSA_ERROR_INVALID_SIGNATURE',
        `the ECDSA signature does not verify with the provisioning key${encLen > 0 ? noLoaderKey(ctx) : ''}`,
        H.sig,
      );
    plain = body.subarray(clearLen);
  }
  const all = new Uint8Array(Buffer.concat([clear, plain]));
  return { code: all.slice(0, code), data: all.slice(code, code + data), values: all.slice(code + data), key };
}

/** Why a chained message cannot authenticate when its loader set up no key. */
function noLoaderKey(ctx: BlobContext | undefined): string {
  return ctx?.chained === true && ctx.loaderKey === undefined
    ? " (the chained loader's message had nothing encrypted, so no provisioning key was set up for this one: the loader must be sealed with AES-CCM or carry encrypted parts)"
    : '';
}

/** `rse_provisioning_setup_aes_key`: KPROV_CM (CM, or a combined blob) or KPROV_DM from the KRTL (zero in TCI). */
function setupAesKey(dev: Device, m: Uint8Array, lcs: LcsName): Uint8Array {
  if (lcs !== 'CM' && lcs !== 'DM') refuse('PROVISIONING_DERIVATION_INVALID_LCS', `no provisioning key can be derived in LCS ${lcs}`);
  const combined = bits(readU32le(m, H.purpose), 0, 8) === 2;
  const cm = lcs === 'CM' || combined;
  return provisioningKey23(krtlOrZero(dev), cm ? 'CM' : 'DM', readU32le(m, cm ? H.batchId : H.dmNumber));
}

/** `provisioning_rotpk_get`: the ROM key of the TP mode, or the key in the message checked against a CM ROTPK hash. */
function rotpkFor(dev: Device, cfg: MessageProvisioning, m: Uint8Array, lcs: LcsName): Uint8Array {
  const n = cfg.curve === 'P-256' ? 32 : 48;
  const metadata = readU32le(m, H.metadata);
  if (bits(metadata, 28, 2) === 3) {
    const pk = bits(metadata, 26, 2);
    if (pk === 2) {
      if (!cfg.rotpkRevocation || lcs !== 'SE')
        refuse('PROVISIONING_AUTH_MSG_INVALID_DM_ROTPK_LCS', `a DM ROTPK cannot sign in LCS ${lcs}`, H.metadata);
    } else if (pk !== 0)
      refuse('PROVISIONING_AUTH_MSG_INVALID_NOT_IN_ROM_ROTPK_CONFIG', `non-ROM key type ${pk} is not a CM or DM ROTPK`, H.metadata);
    else if (!(lcs === 'DM' || (lcs === 'SE' && (cfg.rotpkRevocation || cfg.nonEndorsedDm))))
      refuse('PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK_LCS', `a CM ROTPK cannot sign in LCS ${lcs}`, H.metadata);
    const num = bits(metadata, 8, 9);
    const who = pk === 2 ? 'dm' : 'cm';
    const perArea = who === 'cm' ? RSE_2_3_OTP_CONFIG.cmRotpksPerArea : RSE_2_3_OTP_CONFIG.dmRotpksPerArea;
    if (num >= perArea) refuse('PROVISIONING_AUTH_MSG_INVALID_CM_ROTPK', `ROTPK number ${num} does not exist`, H.metadata);
    const point = m.slice(H.publicKey, H.publicKey + 2 * n);
    const spki = new Uint8Array(Buffer.concat([EC_SPKI_PREFIX[cfg.curve], Uint8Array.of(4), point]));
    const index = rotpkArrayIndex(dev.otp, who);
    const field = `${who}.rotpk_areas_${index}.rotpk_${num}`;
    const stored = dev.plat.read(field);
    const policies = readU32le(dev.plat.read(`${who}.rotpk_areas_${index}.${who}_rotpk_policies`));
    const alg = bits(policies, 12 + num, 1) === 1 ? 'sha384' : 'sha256';
    const digest = hash(alg, spki).subarray(0, 32);
    if (Buffer.compare(Buffer.from(digest), Buffer.from(stored)) !== 0)
      refuse('PROVISIONING_AUTH_MSG_INVALID_HASH_VALUE', `the message's public key does not hash to ${field}`, H.publicKey);
    return point;
  }
  return romRotpk(dev, cfg);
}

/** The ROM's provisioning key of the TP mode (`tci_rotpk` / `pci_rotpk`), raw X ‖ Y. */
function romRotpk(dev: Device, cfg: MessageProvisioning): Uint8Array {
  const n = cfg.curve === 'P-256' ? 32 : 48;
  const mode = dev.lcm.tpMode === 'TCI' ? 'TCI' : 'PCI';
  const raw = dev.store.read(ROM_ROTPK_FILE[mode]);
  if (raw === undefined || raw.length !== 2 * n)
    refuse('PSA_ERROR_INVALID_SIGNATURE', `the ROM holds no ${cfg.curve} provisioning key for ${mode} (${ROM_ROTPK_FILE[mode]})`);
  return raw as Uint8Array;
}

/** `default_blob_handler` up to running the blob, then what the blob's code does. */
function blobHandler(dev: Device, cfg: MessageProvisioning, m: Uint8Array, size: number, events: RomEvent[], ctx: BlobContext): RomOutcome {
  const lcs = dev.lcm.getLcs();
  const tp = dev.lcm.tpMode;
  const metadata = readU32le(m, H.metadata);
  const purpose = readU32le(m, H.purpose);
  const want = bits(purpose, 9, 2);
  if (want > 2) refuse('PROVISIONING_AUTH_MSG_INVALID_TP_MODE', `required TP mode ${want} is not Virgin, PCI or TCI`, H.purpose);
  const wanted = (['VIRGIN', 'PCI', 'TCI'] as const)[want] as 'VIRGIN' | 'PCI' | 'TCI';
  if (wanted !== tp) {
    if (tp === 'VIRGIN' && wanted !== 'VIRGIN') {
      dev.lcm.setTpMode(wanted);
      events.push({ message: `TP mode set to ${wanted} from the message; the handler stops (INVALID_TP_MODE) until the next cold reset` });
      return { kind: 'reset', cold: true, reason: `TP mode ${wanted} set` };
    }
    refuse('PROVISIONING_INVALID_TP_MODE', `the message needs TP mode ${wanted}, the device is in ${tp}`, H.purpose);
  }
  if ((bits(purpose, 28, 4) & LCS_BIT[lcs]) === 0)
    refuse('PROVISIONING_AUTH_MSG_INVALID_PURPOSE', `the message is not valid in LCS ${lcs}`, H.purpose);
  const spRequired = bits(purpose, 11, 1) === 1;
  if (spRequired && !dev.lcm.spEnabled) {
    dev.lcm.setSpEnabled();
    events.push({ message: 'secure provisioning mode enabled; the RSE resets (the message stays staged)' });
    return { kind: 'reset', cold: false, reason: 'secure provisioning mode enabled' };
  }
  if (!spRequired && dev.lcm.spEnabled) return { kind: 'reset', cold: true, reason: 'the message needs SP mode off' };
  if ((bits(purpose, 27, 1) === 1) !== ctx.chained)
    refuse(
      'PROVISIONING_INVALID_MESSAGE_SEQUENCING',
      ctx.chained ? 'the chained loader fetched a message that is not marked chained' : 'a chained message cannot be the first one',
      H.purpose,
    );
  if (bits(metadata, 30, 2) === 1) {
    const uid = dev.plat.read('soc.soc_id_area.unique_id');
    if (Buffer.compare(Buffer.from(uid), Buffer.from(m.subarray(H.socUid, H.socUid + 12))) !== 0)
      refuse('PROVISIONING_INVALID_BLOB_PERSONALIZATION', 'the blob is personalised for another SoC UID', H.socUid);
  }
  if (readU32le(m, H.codeSize) === 0) refuse('PROVISIONING_BLOB_ZERO_CODE_SIZE', 'the blob has no code', H.codeSize);
  if (bits(metadata, 28, 2) === 3 && bits(metadata, 26, 2) === 2)
    refuse('PROVISIONING_BLOB_INVALID_DM_ROTPK_SIGNATURE', 'a blob cannot be signed by a DM ROTPK', H.metadata);
  const u = validateAndUnpack(dev, cfg, m, size, lcs, ctx);
  events.push({
    message: `${ctx.chained ? 'chained ' : ''}blob authenticated (${cfg.symmetric ? 'AES-CCM' : `ECDSA ${cfg.curve}`}) and unpacked: code ${u.code.length}, data ${u.data.length}, values ${u.values.length} bytes`,
  });
  const type = bits(purpose, 0, 8);
  const flow: BlobFlow = rsekitCodeOf(u.code)?.flow ?? (type === 2 ? 'combined' : lcs === 'CM' ? 'cm' : 'dm');
  try {
    return runBlobCode(dev, cfg, u, flow, events, ctx);
  } finally {
    u.values.fill(0);
    u.key?.fill(0);
  }
}

/** The secret values each flow's code reads. */
const SECRETS: Readonly<Record<BlobFlow, number>> = {
  cm: VALUES_SIZE.cmSecret,
  dm: VALUES_SIZE.dmSecret,
  combined: VALUES_SIZE.cmSecret + VALUES_SIZE.dmSecret,
  'dm-chained': 0,
  'plain-data': 0,
};

/** What the blob's code does (`do_provision`), natively. */
function runBlobCode(dev: Device, cfg: MessageProvisioning, u: Unpacked, flow: BlobFlow, events: RomEvent[], ctx: BlobContext): RomOutcome {
  const lcs = dev.lcm.getLcs();
  // The blob's code reads its secrets from the values area: they must all be there.
  if (u.values.length < SECRETS[flow])
    refuse(
      'PROVISIONING_AUTH_MSG_INVALID_VALUES_SIZE',
      `the secret values are ${u.values.length} bytes; the code reads ${SECRETS[flow]}`,
      H.valuesSize,
    );
  const cmAt = (at: number): Uint8Array => u.data.subarray(at, at + VALUES_SIZE.cmNonSecret);
  if (flow === 'combined') {
    if (lcs !== 'CM' && lcs !== 'DM') refuse('PROVISIONING_BUNDLE_COMBINED_INVALID_LCS', `a combined blob runs in CM or DM, not ${lcs}`);
    const at = valuesOffset(u, VALUES_SIZE.cmNonSecret + VALUES_SIZE.dmNonSecret, 'combined', events);
    if (lcs === 'CM') doCmProvision(dev, cfg, cmAt(at), u.values.subarray(0, VALUES_SIZE.cmSecret), events);
    else {
      const dm = at + VALUES_SIZE.cmNonSecret;
      const secrets = u.values.subarray(VALUES_SIZE.cmSecret, VALUES_SIZE.cmSecret + VALUES_SIZE.dmSecret);
      doDmProvision(dev, cfg, u.data.subarray(dm, dm + VALUES_SIZE.dmNonSecret), secrets, events);
    }
  } else if (flow === 'dm-chained') {
    return chainLoad(dev, cfg, events, { chained: true, loaderKey: ctx.loaderKey ?? u.key?.slice(), rig: ctx.rig });
  } else if (flow === 'plain-data') {
    const m = fetchNext(dev, cfg, ctx.rig, 'plain-data');
    const length = readU32le(m, 4);
    if (length > m.length - MESSAGE_HEADER_SIZE)
      refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} exceeds the staging area`, 4);
    const type = readU32le(m, 0);
    if (type !== PROVISIONING_MESSAGE_TYPE.PLAIN_DATA)
      refuse('PROVISIONING_MESSAGE_NO_BLOB_HANDLER', `the plain data handler takes plain data, not message type ${hex0x(type, 8)}`, 0);
    events.push({ message: `plain data message fetched (${length} bytes)` });
    plainDataHandler(dev, cfg, m.subarray(MESSAGE_HEADER_SIZE, MESSAGE_HEADER_SIZE + length), 'none', events);
    return { kind: 'reset', cold: true, reason: `${lcs} plain data provisioning finished` };
  } else if (lcs === 'CM') {
    const at = valuesOffset(u, VALUES_SIZE.cmNonSecret, 'cm', events);
    doCmProvision(dev, cfg, cmAt(at), u.values.subarray(0, VALUES_SIZE.cmSecret), events);
  } else if (lcs === 'DM') {
    const at = valuesOffset(u, VALUES_SIZE.dmNonSecret, 'dm', events);
    doDmProvision(dev, cfg, u.data.subarray(at, at + VALUES_SIZE.dmNonSecret), u.values.subarray(0, VALUES_SIZE.dmSecret), events);
  } else refuse('PROVISIONING_AUTH_MSG_INVALID_PURPOSE', `no blob flow runs in LCS ${lcs}`);
  return { kind: 'reset', cold: true, reason: `${lcs} provisioning finished` };
}

/**
 * `rse_provisioning_get_message` from a blob's code: the rig stages the next message where the
 * first one was (the code runs from its own copy), or there is none (MESSAGE_NOT_FOUND).
 */
function fetchNext(dev: Device, cfg: MessageProvisioning, rig: RigInput, why: 'dm-chained' | 'plain-data'): Uint8Array {
  const next = rig.nextMessage?.(why);
  if (next === undefined) refuse('PROVISIONING_MESSAGE_NOT_FOUND', `the blob's code waits for the next message (${why}); the rig has none`);
  const area = messageArea(dev, cfg);
  if ((next as Uint8Array).length > area.length)
    refuse(
      'PROVISIONING_MESSAGE_INVALID_SIZE',
      `the next message is ${(next as Uint8Array).length} bytes; the staging area holds ${area.length}`,
    );
  area.fill(0);
  area.set(next as Uint8Array);
  return area;
}

/** `dm_chained_provisioning_code.c`: the next message, handled by the blob handler as a chained one. */
function chainLoad(dev: Device, cfg: MessageProvisioning, events: RomEvent[], ctx: BlobContext): RomOutcome {
  const m = fetchNext(dev, cfg, ctx.rig, 'dm-chained');
  events.push({ message: `the chained loader fetched the next message (${hex0x(readU32le(m, 0), 8)}, ${readU32le(m, 4)} bytes)` });
  const length = readU32le(m, 4);
  if (length > m.length - MESSAGE_HEADER_SIZE)
    refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} exceeds the staging area`, 4);
  if (readU32le(m, 0) !== PROVISIONING_MESSAGE_TYPE.BLOB) return handlerless(readU32le(m, 0), 'the chained loader');
  return blobHandler(dev, cfg, m, length, events, ctx);
}

/** `handle_provisioning_message` for a type its caller has no handler for. */
function handlerless(type: number, who: string): never {
  if (type === PROVISIONING_MESSAGE_TYPE.BLOB) refuse('PROVISIONING_MESSAGE_NO_BLOB_HANDLER', `${who} has no blob handler`, 0);
  if (type === PROVISIONING_MESSAGE_TYPE.PLAIN_DATA)
    refuse('PROVISIONING_MESSAGE_NO_PLAIN_DATA_HANDLER', `${who} has no plain data handler`, 0);
  if (type === PROVISIONING_MESSAGE_TYPE.AUTHENTICATED_PLAIN_DATA)
    refuse('PROVISIONING_MESSAGE_NO_AUTH_PLAIN_DATA_HANDLER', `${who} has no authenticated plain data handler`, 0);
  if (type === PROVISIONING_MESSAGE_TYPE.CERTIFICATE)
    refuse('PROVISIONING_MESSAGE_NO_CERT_HANDLER', `${who} has no certificate handler`, 0);
  return refuse('PROVISIONING_MESSAGE_INVALID_TYPE', `message type ${hex0x(type, 8)} is unknown`, 0);
}

/**
 * `handle_provisioning_message` with a blob handler (BL1_1's set; BL1_2's in SE with
 * non-endorsed DM provisioning): the staged message's size, then its type.
 */
export function handleBlobMessage(
  dev: Device,
  cfg: MessageProvisioning,
  m: Uint8Array,
  events: RomEvent[],
  rig: RigInput,
  who: string,
): RomOutcome {
  const length = readU32le(m, 4);
  if (length > m.length - MESSAGE_HEADER_SIZE)
    refuse('PROVISIONING_MESSAGE_INVALID_SIZE', `data_length ${length} exceeds the ${m.length - MESSAGE_HEADER_SIZE}-byte area`, 4);
  const type = readU32le(m, 0);
  if (type === PROVISIONING_MESSAGE_TYPE.BLOB) return blobHandler(dev, cfg, m, length, events, { chained: false, rig });
  return handlerless(type, who);
}

/**
 * One pass of `tfm_plat_provisioning_perform` (BL1_1, message provisioning) from the current LCS:
 * the SoC area info written at init, then the staged message handled. A refused message is wiped
 * and BL1_1 stops with TF-M's error; nothing is written to OTP for it.
 */
export function messageProvisioning(dev: Device, rig: RigInput, events: RomEvent[]): RomOutcome {
  const cfg = dev.profile.provisioning.messages;
  if (cfg === undefined) return { kind: 'error', reason: `${dev.profile.name} has no message provisioning`, code: 'E_CONFIG' };
  const area = messageArea(dev, cfg);
  try {
    writeSocAreaInfo(dev.lcm);
    const lcs = dev.lcm.getLcs();
    if (lcs !== 'CM' && lcs !== 'DM') {
      events.push({ message: `LCS ${lcs}: provisioning not required` });
      return { kind: 'not-required' };
    }
    const type = readU32le(area, 0);
    const known = [PROVISIONING_MESSAGE_TYPE.BLOB, PROVISIONING_MESSAGE_TYPE.CERTIFICATE, PROVISIONING_MESSAGE_TYPE.PLAIN_DATA] as number[];
    if (!known.includes(type)) {
      events.push({ message: `LCS ${lcs}: no provisioning message staged at VM1+${hex0x(cfg.messageOffset)} (MESSAGE_NOT_FOUND)` });
      return { kind: 'wait', reason: 'message' };
    }
    events.push({ message: `LCS ${lcs}: handling the staged message (${hex0x(type, 8)}, ${readU32le(area, 4)} bytes)` });
    const out = handleBlobMessage(dev, cfg, area, events, rig, 'BL1_1');
    if (out.kind === 'reset' && out.cold && out.reason.endsWith('provisioning finished'))
      events.push({ message: `${out.reason}; the RSE resets` });
    return out;
  } catch (e) {
    if (e instanceof Refused) return refusalOutcome(dev, area, e, events);
    return { kind: 'error', ...describeFailure(e) };
  }
}

/** A refused message: wiped from SRAM, and BL1 stops with TF-M's error name and number. */
export function refusalOutcome(dev: Device, area: Uint8Array, e: Refused, events: RomEvent[]): RomOutcome {
  area.fill(0);
  dev.saveSram('vm1');
  const code = PROVISIONING_ERROR[e.errName];
  const name = e.errName.startsWith('PSA_') ? e.errName : `TFM_PLAT_ERR_${e.errName}`;
  events.push({ message: `message refused: ${e.why} (${name}, ${code < 0 ? code : hex0x(code)}); the message is wiped` });
  return {
    kind: 'error',
    reason: e.why,
    code: name,
    field: 'provisioning message',
    ...(e.offset === undefined ? {} : { offset: e.offset }),
  };
}
