/**
 * PKCS#11 tokens (an HSM, or SoftHSM2 in the tests) named by RFC 7512 URIs
 * (`pkcs11:token=rsekit;object=fw-signing?pin-source=file:pin.txt`): the URI, the module, and a
 * logged-in session on the token it names ({@link openTokenSession}); the keys are in
 * `pkcs11-keys.ts`. The module comes from the URI's `module-path`, the caller
 * (`--pkcs11-module`) or `PKCS11_MODULE`; the PIN from `pin-value`, `pin-source` or the caller's
 * prompt. Binding: the maintained `pkcs11js` (optional dependency, a native addon).
 * @module
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { RseError } from '../lib/errors.ts';

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
  if (s('type') !== undefined && s('type') !== 'private' && s('type') !== 'secret')
    bad(`type=${s('type')}: rsekit uses private keys (signing) and secret keys (wrapping)`);
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
/** The subset of a loaded pkcs11js module rsekit calls. */
export interface Module {
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
  C_GenerateKeyPair(
    session: Buffer,
    mechanism: { mechanism: number },
    pub: Template,
    priv: Template,
  ): { publicKey: Buffer; privateKey: Buffer };
  C_GenerateKey(session: Buffer, mechanism: { mechanism: number }, template: Template): Buffer;
  C_EncryptInit(session: Buffer, mechanism: { mechanism: number; parameter?: unknown }, key: Buffer): void;
  C_Encrypt(session: Buffer, data: Buffer, out: Buffer): Buffer;
  C_DecryptInit(session: Buffer, mechanism: { mechanism: number; parameter?: unknown }, key: Buffer): void;
  C_Decrypt(session: Buffer, data: Buffer, out: Buffer): Buffer;
}

/** A PKCS#11 attribute template. */
export type Template = { type: number; value?: unknown }[];

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
const LATER: Readonly<Record<string, number>> = { CKM_EDDSA: 0x1057, CKK_EC_EDWARDS: 0x40, CKM_EC_EDWARDS_KEY_PAIR_GEN: 0x1055 };
export const C = (name: string): number => (loadBinding()[name] as number | undefined) ?? (LATER[name] as number);

/** Maps a pkcs11js error to a typed one (the PIN never appears in it). */
export function tokenError(e: unknown, what: string): RseError {
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

/** Where a PIN comes from when the URI has none, and the module when the URI names none. */
export interface TokenKeyOptions {
  readonly module?: string;
  readonly pin?: () => string | undefined;
}

/** A logged-in session on the token a URI names. */
export interface TokenSession {
  readonly uri: Pkcs11Uri;
  readonly module: Module;
  readonly session: Buffer;
  /** The URI's naming attributes, for messages (never the PIN). */
  readonly name: string;
  /** The one object of class `cls` (CKO_…) the URI names, if any (E_KEY when it names several). */
  find(cls: string): Buffer | undefined;
}

/** Opens a session (read-write for `rw`) on the token the URI names and logs the user in. */
export function openTokenSession(uri: string, o: TokenKeyOptions = {}, rw = false): TokenSession {
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
  const name = describe(u);
  if (slot === undefined) throw new RseError('E_KEY', `PKCS#11: no token matches ${name} in ${modulePath}`, { field: 'pkcs11' });
  let session: Buffer;
  try {
    session = m.C_OpenSession(slot, C('CKF_SERIAL_SESSION') | (rw ? C('CKF_RW_SESSION') : 0));
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
        throw new RseError('E_KEY', `PKCS#11: ${name} names more than one ${cls.replace('CKO_', '').replace('_', ' ').toLowerCase()}`, {
          field: 'pkcs11',
        });
      return found[0];
    } catch (e) {
      if (e instanceof RseError) throw e;
      throw tokenError(e, 'finding the key');
    }
  };
  return { uri: u, module: m, session, name, find };
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
