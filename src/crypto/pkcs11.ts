/**
 * Signing keys held in a PKCS#11 token (an HSM, or SoftHSM2 in the tests), named by RFC 7512 URIs
 * (`pkcs11:token=rsekit;object=fw-signing?pin-source=file:pin.txt`). The private key never leaves
 * the token: the data is hashed on the host and only the digest goes to it (CKM_ECDSA,
 * CKM_RSA_PKCS_PSS with SHA-256/MGF1/32-byte salt as MCUboot wants), except Ed25519 (CKM_EDDSA over
 * what is signed, which for MCUboot is the image digest). The public key is read from the token's
 * public object of the same label or id. The module comes from the URI's `module-path`, the
 * caller (`--pkcs11-module`) or `PKCS11_MODULE`; the PIN from `pin-value`, `pin-source` or the
 * caller's prompt. Binding: the maintained `pkcs11js` (optional dependency, a native addon).
 * @module
 */

import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RseError } from '../lib/errors.ts';
import type { AsymKey, AsymKeyType, TokenSigner } from './asym.ts';
import { importRawPublicKey } from './asym.ts';

/** What an RFC 7512 URI names (the attributes rsekit uses). */
export interface Pkcs11Uri {
  readonly token?: string;
  readonly manufacturer?: string;
  readonly serial?: string;
  readonly model?: string;
  readonly object?: string;
  readonly id?: Uint8Array;
  readonly type?: string;
  readonly pinValue?: string;
  readonly pinSource?: string;
  readonly modulePath?: string;
}

const bad = (why: string): never => {
  throw new RseError('E_KEY', `PKCS#11 URI: ${why}`, { field: 'pkcs11 uri' });
};

/** RFC 7512: `pkcs11:` path attributes separated by `;`, query attributes by `&`, values percent-encoded. */
export function parsePkcs11Uri(uri: string): Pkcs11Uri {
  if (!uri.startsWith('pkcs11:')) bad('it must start with pkcs11:');
  const rest = uri.slice('pkcs11:'.length);
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? '' : rest.slice(q + 1);
  const out: Record<string, string | Uint8Array> = {};
  const decode = (v: string): Uint8Array => {
    const bytes: number[] = [];
    for (const piece of v.split(/(%..)/)) {
      if (piece.startsWith('%')) {
        if (!/^%[0-9a-fA-F]{2}$/.test(piece)) bad(`bad percent-encoding in ${v}`);
        bytes.push(Number.parseInt(piece.slice(1), 16));
      } else if (piece.includes('%')) bad(`bad percent-encoding in ${v}`);
      else bytes.push(...new TextEncoder().encode(piece));
    }
    return Uint8Array.from(bytes);
  };
  const take = (part: string, sep: string, known: readonly string[]): void => {
    for (const kv of part.split(sep)) {
      if (kv === '') continue;
      const eq = kv.indexOf('=');
      if (eq <= 0) bad(`attribute ${kv} has no value`);
      const name = kv.slice(0, eq);
      if (!known.includes(name)) continue; // RFC 7512: unknown attributes are ignored by a consumer that does not use them
      if (name in out) bad(`attribute ${name} given twice`);
      const raw = decode(kv.slice(eq + 1));
      out[name] = name === 'id' ? raw : Buffer.from(raw).toString('utf8');
    }
  };
  take(path, ';', ['token', 'manufacturer', 'serial', 'model', 'object', 'id', 'type', 'library-description']);
  take(query, '&', ['pin-value', 'pin-source', 'module-path', 'module-name']);
  const s = (k: string): string | undefined => out[k] as string | undefined;
  if (s('type') !== undefined && s('type') !== 'private') bad(`type=${s('type')}: a signing key is type=private`);
  const r: Record<string, unknown> = {
    token: s('token'),
    manufacturer: s('manufacturer'),
    serial: s('serial'),
    model: s('model'),
    object: s('object'),
    id: out.id,
    type: s('type'),
    pinValue: s('pin-value'),
    pinSource: s('pin-source'),
    modulePath: s('module-path'),
  };
  for (const k of Object.keys(r)) if (r[k] === undefined) delete r[k];
  if (r.object === undefined && r.id === undefined) bad('name the key with object= (its label) or id=');
  return r as Pkcs11Uri;
}

/** The subset of pkcs11js this module uses. */
interface Binding {
  PKCS11: new () => Module;
  [constant: string]: unknown;
}
interface Module {
  load(path: string): void;
  C_Initialize(): void;
  C_Finalize(): void;
  C_GetSlotList(tokenPresent: boolean): Buffer[];
  C_GetTokenInfo(slot: Buffer): { label: string; manufacturerID: string; model: string; serialNumber: string };
  C_OpenSession(slot: Buffer, flags: number): Buffer;
  C_Login(session: Buffer, userType: number, pin: string): void;
  C_FindObjectsInit(session: Buffer, template: { type: number; value?: unknown }[]): void;
  C_FindObjects(session: Buffer, max: number): Buffer[];
  C_FindObjectsFinal(session: Buffer): void;
  C_GetAttributeValue(session: Buffer, object: Buffer, template: { type: number }[]): { type: number; value?: Buffer }[];
  C_SignInit(session: Buffer, mechanism: { mechanism: number; parameter?: unknown }, key: Buffer): void;
  C_Sign(session: Buffer, data: Buffer, out: Buffer): Buffer;
}

let binding: Binding | undefined;
function loadBinding(): Binding {
  if (binding !== undefined) return binding;
  try {
    const name = 'pkcs11js'; // a native addon, loaded from node_modules
    binding = createRequire(import.meta.url)(name) as Binding;
    return binding;
  } catch (e) {
    throw new RseError('E_UNSUPPORTED', 'PKCS#11 keys need the optional package pkcs11js (a native addon), which is not installed', {
      field: 'pkcs11',
      cause: e,
    });
  }
}

/** PKCS#11 3.0 constants the binding may lack. */
const LATER: Readonly<Record<string, number>> = { CKM_EDDSA: 0x1057, CKK_EC_EDWARDS: 0x40 };
const C = (name: string): number => (loadBinding()[name] as number | undefined) ?? (LATER[name] as number);

/** Maps a pkcs11js error to a typed one (the PIN never appears in it). */
function tokenError(e: unknown, what: string): RseError {
  const m = e instanceof Error ? e.message : String(e);
  const ckr = /CKR_[A-Z_]+/.exec(m)?.[0] ?? m.split('\n')[0]?.slice(0, 120) ?? 'error';
  const hint =
    ckr === 'CKR_PIN_INCORRECT'
      ? ': wrong PIN'
      : ckr === 'CKR_PIN_LEN_RANGE'
        ? ': the PIN has the wrong length'
        : ckr === 'CKR_USER_PIN_NOT_INITIALIZED'
          ? ': the token has no user PIN'
          : '';
  return new RseError('E_KEY', `PKCS#11: ${what} failed (${ckr})${hint}`, { field: 'pkcs11', cause: e });
}

const modules = new Map<string, Module>();
function moduleFor(path: string): Module {
  const open = modules.get(path);
  if (open !== undefined) return open;
  const b = loadBinding();
  const m = new b.PKCS11();
  try {
    m.load(path);
  } catch (e) {
    throw new RseError('E_KEY', `PKCS#11: cannot load the module ${path}`, { field: '--pkcs11-module', cause: e });
  }
  try {
    m.C_Initialize();
  } catch (e) {
    throw tokenError(e, `initialising ${path}`);
  }
  modules.set(path, m);
  if (modules.size === 1)
    process.once('exit', () => {
      for (const x of modules.values())
        try {
          x.C_Finalize();
        } catch {
          // the process is ending
        }
    });
  return m;
}

const trim = (s: string): string => s.replace(/[\s\0]+$/, '');

/** The PIN of a URI: `pin-value`, or the first line of the `pin-source` file (`file:` URI or path). */
function uriPin(u: Pkcs11Uri): string | undefined {
  if (u.pinValue !== undefined) return u.pinValue;
  if (u.pinSource === undefined) return undefined;
  const path = u.pinSource.startsWith('file:') ? u.pinSource.replace(/^file:(\/\/)?/, '') : u.pinSource;
  try {
    return (readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '').trimEnd();
  } catch (e) {
    throw new RseError('E_IO', `PKCS#11: cannot read the PIN from ${path}`, { field: 'pin-source', cause: e });
  }
}

/** Options for {@link openTokenKey}: the module when the URI names none, and where a PIN comes from otherwise. */
export interface TokenKeyOptions {
  readonly module?: string;
  readonly pin?: () => string;
}

/** Opens the private key a PKCS#11 URI names: logs in, finds it and its public key, and returns an rsekit key that signs through the token. */
export function openTokenKey(uri: string, o: TokenKeyOptions = {}): AsymKey {
  const u = parsePkcs11Uri(uri);
  const modulePath = u.modulePath ?? o.module ?? process.env.PKCS11_MODULE;
  if (modulePath === undefined || modulePath === '')
    throw new RseError('E_USAGE', 'a PKCS#11 key needs its module: module-path= in the URI, --pkcs11-module or PKCS11_MODULE', {
      field: '--pkcs11-module',
    });
  const m = moduleFor(modulePath);
  let slots: Buffer[];
  try {
    slots = m.C_GetSlotList(true);
  } catch (e) {
    throw tokenError(e, 'listing the slots');
  }
  const info = (s: Buffer): ReturnType<Module['C_GetTokenInfo']> => {
    try {
      return m.C_GetTokenInfo(s);
    } catch (e) {
      throw tokenError(e, 'reading the token information');
    }
  };
  const slot = slots.find((s) => {
    const t = info(s);
    return (
      (u.token === undefined || trim(t.label) === u.token) &&
      (u.manufacturer === undefined || trim(t.manufacturerID) === u.manufacturer) &&
      (u.model === undefined || trim(t.model) === u.model) &&
      (u.serial === undefined || trim(t.serialNumber) === u.serial)
    );
  });
  if (slot === undefined) throw new RseError('E_KEY', `PKCS#11: no token matches ${describe(u)} in ${modulePath}`, { field: 'pkcs11' });
  let session: Buffer;
  try {
    session = m.C_OpenSession(slot, C('CKF_SERIAL_SESSION'));
  } catch (e) {
    throw tokenError(e, 'opening a session');
  }
  const pin = uriPin(u) ?? o.pin?.();
  if (pin === undefined)
    throw new RseError('E_KEY', 'PKCS#11: the token needs a PIN (pin-source=, pin-value= or a terminal)', { field: 'pin' });
  try {
    m.C_Login(session, C('CKU_USER'), pin);
  } catch (e) {
    if (!/CKR_USER_ALREADY_LOGGED_IN/.test(String(e))) throw tokenError(e, 'logging in');
  }
  const find = (cls: string): Buffer | undefined => {
    const template: { type: number; value?: unknown }[] = [{ type: C('CKA_CLASS'), value: C(cls) }];
    if (u.object !== undefined) template.push({ type: C('CKA_LABEL'), value: u.object });
    if (u.id !== undefined) template.push({ type: C('CKA_ID'), value: Buffer.from(u.id) });
    try {
      m.C_FindObjectsInit(session, template);
      const found = m.C_FindObjects(session, 2);
      m.C_FindObjectsFinal(session);
      if (found.length > 1)
        throw new RseError('E_KEY', `PKCS#11: ${describe(u)} names more than one ${cls === 'CKO_PRIVATE_KEY' ? 'private' : 'public'} key`, {
          field: 'pkcs11',
        });
      return found[0];
    } catch (e) {
      if (e instanceof RseError) throw e;
      throw tokenError(e, 'finding the key');
    }
  };
  const priv = find('CKO_PRIVATE_KEY');
  if (priv === undefined) throw new RseError('E_KEY', `PKCS#11: no private key ${describe(u)} on the token`, { field: 'pkcs11' });
  const pub = find('CKO_PUBLIC_KEY');
  if (pub === undefined)
    throw new RseError(
      'E_KEY',
      `PKCS#11: no public key object ${describe(u)} beside the private key (rsekit reads the public key from it)`,
      {
        field: 'pkcs11',
      },
    );
  const { type, publicKey } = publicOf(m, session, pub);
  const mechanism =
    type === 'rsa-2048' || type === 'rsa-3072'
      ? {
          mechanism: C('CKM_RSA_PKCS_PSS'),
          parameter: { type: C('CK_PARAMS_RSA_PSS'), hashAlg: C('CKM_SHA256'), mgf: C('CKG_MGF1_SHA256'), saltLen: 32 },
        }
      : { mechanism: C(type === 'ed25519' ? 'CKM_EDDSA' : 'CKM_ECDSA') };
  const token: TokenSigner = {
    uri: describe(u),
    sign: (input) => {
      try {
        m.C_SignInit(session, mechanism, priv);
        return new Uint8Array(m.C_Sign(session, Buffer.from(input), Buffer.alloc(512)));
      } catch (e) {
        throw tokenError(e, 'signing');
      }
    },
  };
  return { type, isPrivate: true, publicKey, token };
}

/** The URI's naming attributes, for messages (never the PIN). */
function describe(u: Pkcs11Uri): string {
  const parts = [
    ...(u.token === undefined ? [] : [`token=${u.token}`]),
    ...(u.object === undefined ? [] : [`object=${u.object}`]),
    ...(u.id === undefined ? [] : [`id=${Buffer.from(u.id).toString('hex')}`]),
  ];
  return `pkcs11:${parts.join(';')}`;
}

/** DER OIDs of the curves rsekit signs with, as CKA_EC_PARAMS holds them. */
const EC_PARAMS: Readonly<Record<string, AsymKeyType>> = {
  '06082a8648ce3d030107': 'ecdsa-p256',
  '06052b81040022': 'ecdsa-p384',
  '06032b6570': 'ed25519',
  '130c656477617264733235353139': 'ed25519', // PrintableString "edwards25519"
};

function publicOf(m: Module, session: Buffer, object: Buffer): { type: AsymKeyType; publicKey: AsymKey['publicKey'] } {
  const attr = (t: string): Buffer | undefined => {
    try {
      return m.C_GetAttributeValue(session, object, [{ type: C(t) }])[0]?.value;
    } catch {
      return undefined;
    }
  };
  const keyType = attr('CKA_KEY_TYPE');
  const kt = keyType === undefined ? -1 : keyType.readUIntLE(0, Math.min(keyType.length, 6));
  if (kt === C('CKK_RSA')) {
    const n = attr('CKA_MODULUS');
    const e = attr('CKA_PUBLIC_EXPONENT');
    if (n === undefined || e === undefined)
      throw new RseError('E_KEY', 'PKCS#11: the RSA public key has no modulus or exponent', { field: 'pkcs11' });
    const publicKey = createPublicKey({ key: { kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, format: 'jwk' });
    const bits = publicKey.asymmetricKeyDetails?.modulusLength;
    if (bits !== 2048 && bits !== 3072)
      throw new RseError('E_KEY', `PKCS#11: an RSA-${bits} key; rsekit signs with RSA-2048 or 3072`, { field: 'pkcs11' });
    return { type: bits === 2048 ? 'rsa-2048' : 'rsa-3072', publicKey };
  }
  const params = attr('CKA_EC_PARAMS');
  const point = attr('CKA_EC_POINT');
  const type = params === undefined ? undefined : EC_PARAMS[params.toString('hex')];
  if (type === undefined || point === undefined)
    throw new RseError('E_KEY', 'PKCS#11: the key is not RSA-2048/3072, ECDSA P-256/P-384 or Ed25519', { field: 'pkcs11' });
  // CKA_EC_POINT is a DER OCTET STRING around the point (some modules give the bare point).
  const size = type === 'ecdsa-p256' ? 65 : type === 'ecdsa-p384' ? 97 : 32;
  const raw = point.length === size + 2 && point[0] === 0x04 && point[1] === size ? point.subarray(2) : point;
  return { type, publicKey: importRawPublicKey(type, new Uint8Array(raw)).publicKey };
}
