/**
 * The SCMI server of the STM32MP15 secure monitor: the shared-memory transport (SMT) channel an
 * agent writes its message into before ringing the SiP doorbell, and the base, clock,
 * reset-domain and voltage-domain protocols over the monitor's resource lists (data in
 * `profiles/stm32-monitor.ts`). Every reply is what the monitor's scmi-msg server writes back:
 * the status word first, a lone PROTOCOL_ERROR for a message of the wrong size, NOT_SUPPORTED for
 * an unknown protocol or message, DENIED for a resource the agent's world may not touch.
 *
 * SMT channel layout (DEN0056 shared memory): reserved u32 · channel_status u32 (bit 0 free,
 * bit 1 error) · reserved u64 · flags u32 · length u32 (header + payload) · message_header u32
 * (bits 7:0 message, 17:10 protocol, 27:18 token) · payload.
 * @module
 */
import { RseError } from '../lib/errors.ts';
import {
  type Gate,
  type MonitorData,
  SCMI_PROTOCOL,
  SCMI_STATUS,
  type ScmiAgentData,
  type ScmiProtocolName,
} from '../profiles/stm32-monitor.ts';

/** What an agent's resources are doing: kept with the device. */
export interface ScmiAgentState {
  readonly clocks: boolean[];
  readonly resets: boolean[];
  readonly voltages: { on: boolean; level: number }[];
}

export function initialAgentState(a: ScmiAgentData): ScmiAgentState {
  return {
    clocks: a.clocks.map((c) => c.enabled),
    resets: a.resets.map(() => false),
    // The agent's vote on each regulator starts off (OP-TEE's voltd state), at the lowest level.
    voltages: a.voltages.map((v) => ({ on: false, level: v.levels[0] as number })),
  };
}

/** Whether the normal world may reach a resource now (the ETZPC decides). */
export type GateCheck = (g: Gate) => boolean;

export const SMT_HEADER = 28;
const STATUS_FREE = 1;
const STATUS_ERROR = 2;

/** What happened on the channel, for the report. */
export interface ScmiTrace {
  readonly protocol: number;
  readonly message: number;
  readonly status: number | undefined;
  /** Why the channel itself was refused (busy, bad status, oversize), when it was. */
  readonly channelError?: string;
}

const S = SCMI_STATUS;
const PROTOCOL_NAMES = new Map<number, ScmiProtocolName>(
  (Object.entries(SCMI_PROTOCOL) as [ScmiProtocolName, number][]).map(([k, v]) => [v, k]),
);

/** Message ids each protocol answers (0 version, 1 attributes, 2 message attributes, then its own). */
const MESSAGES: Readonly<Record<ScmiProtocolName, number>> = { BASE: 7, CLOCK: 8, RESET_DOMAIN: 5, VOLTAGE_DOMAIN: 9 };

class Out {
  readonly words: number[] = [];
  u32(...v: number[]): this {
    for (const x of v) this.words.push(x >>> 0);
    return this;
  }
  name(s: string): this {
    const b = new Uint8Array(16);
    b.set(new TextEncoder().encode(s).subarray(0, 15));
    const dv = new DataView(b.buffer);
    for (let i = 0; i < 16; i += 4) this.words.push(dv.getUint32(i, true));
    return this;
  }
  encode(): Uint8Array {
    const b = new Uint8Array(4 * this.words.length);
    const dv = new DataView(b.buffer);
    this.words.forEach((w, i) => {
      dv.setUint32(4 * i, w, true);
    });
    return b;
  }
}
const status = (s: number): Out => new Out().u32(s);

/** One SCMI message of one agent, answered. */
function processMessage(
  m: MonitorData,
  agentIndex: number,
  st: ScmiAgentState,
  canReach: GateCheck,
  protocolId: number,
  messageId: number,
  input: Uint8Array,
  outSize: number,
): Out {
  const agent = m.scmi.agents[agentIndex] as ScmiAgentData;
  const name = PROTOCOL_NAMES.get(protocolId);
  if (name === undefined || (name !== 'BASE' && !m.scmi.protocols.includes(name)) || messageId >= MESSAGES[name])
    return status(S.NOT_SUPPORTED);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const arg = (i: number): number => dv.getUint32(4 * i, true);
  const size = (n: number): boolean => input.length === 4 * n;
  // Common messages.
  if (messageId === 0) return size(0) ? new Out().u32(S.SUCCESS, m.scmi.versions[name]) : status(S.PROTOCOL_ERROR);
  if (messageId === 2) {
    if (!size(1)) return status(S.PROTOCOL_ERROR);
    return arg(0) < MESSAGES[name] ? new Out().u32(S.SUCCESS, 0) : status(S.NOT_FOUND);
  }
  switch (name) {
    case 'BASE':
      return base(m, messageId, input, outSize);
    case 'CLOCK':
      return clock(agent, st, canReach, messageId, input);
    case 'RESET_DOMAIN':
      return reset(agent, st, canReach, messageId, input);
    case 'VOLTAGE_DOMAIN':
      return voltage(agent, st, messageId, input, outSize);
  }
}

function base(m: MonitorData, id: number, input: Uint8Array, outSize: number): Out {
  if (id === 6) {
    if (input.length !== 4) return status(S.PROTOCOL_ERROR);
    const skip = new DataView(input.buffer, input.byteOffset).getUint32(0, true);
    const list = m.scmi.protocols.map((p) => SCMI_PROTOCOL[p]);
    const count = list.length > skip ? Math.min(list.length - skip, outSize - 8) : 0;
    // The protocol ids one byte each, packed little-endian into words (the last one zero-padded).
    const ids = list.slice(skip, skip + count);
    const words = Array.from({ length: Math.ceil(count / 4) }, (_, i) =>
      ids.slice(4 * i, 4 * i + 4).reduce((w, id, k) => w | (id << (8 * k)), 0),
    );
    return new Out().u32(S.SUCCESS, count, ...words);
  }
  if (input.length !== 0) return status(S.PROTOCOL_ERROR);
  switch (id) {
    case 1:
      // Protocol count in bits 7:0; agent discovery is not offered (0 agents).
      return new Out().u32(S.SUCCESS, m.scmi.protocols.length & 0xff);
    case 3:
      return new Out().u32(S.SUCCESS).name(m.scmi.vendor);
    case 4:
      return new Out().u32(S.SUCCESS).name(m.scmi.subVendor);
    default:
      return new Out().u32(S.SUCCESS, m.scmi.implementationVersion);
  }
}

function clock(a: ScmiAgentData, st: ScmiAgentState, canReach: GateCheck, id: number, input: Uint8Array): Out {
  const n = a.clocks.length;
  if (id === 1) return input.length === 0 ? new Out().u32(S.SUCCESS, (1 << 16) | n) : status(S.PROTOCOL_ERROR);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const want = [0, 0, 0, 4, 8, 16, 4, 8][id] as number;
  if (input.length !== want) return status(S.PROTOCOL_ERROR);
  const clockId = dv.getUint32(id === 5 ? 4 : 0, true);
  if (clockId >= n) return status(S.INVALID_PARAMETERS);
  const c = a.clocks[clockId] as ScmiAgentData['clocks'][number];
  const ok = canReach(c.gate);
  const rate = (hz: number): [number, number] => [hz % 2 ** 32, Math.floor(hz / 2 ** 32)];
  switch (id) {
    case 3:
      // A clock the agent may not reach has no name for it: NOT_FOUND.
      return ok ? new Out().u32(S.SUCCESS, st.clocks[clockId] ? 1 : 0).name(c.name) : status(S.NOT_FOUND);
    case 4: {
      if (!ok) return status(S.DENIED);
      // One fixed rate: a list of one, whatever index is asked (the remainder as the monitor computes it, 32-bit).
      const index = dv.getUint32(4, true);
      const count = index < 1 ? 1 : 0;
      const remaining = (1 - (index + count)) >>> 0;
      const flags = (count & 0xfff) | ((remaining << 16) & 0xffff0000);
      const o = new Out().u32(S.SUCCESS, flags);
      if (count === 1) o.u32(...rate(c.rateHz));
      return o;
    }
    case 5:
      // Fixed-rate clocks: the platform has no rate setter.
      return status(S.NOT_SUPPORTED);
    case 6:
      return new Out().u32(S.SUCCESS, ...rate(ok ? c.rateHz : 0));
    default: {
      if (!ok) return status(S.DENIED);
      st.clocks[clockId] = (dv.getUint32(4, true) & 1) === 1;
      return status(S.SUCCESS);
    }
  }
}

function reset(a: ScmiAgentData, st: ScmiAgentState, canReach: GateCheck, id: number, input: Uint8Array): Out {
  const n = a.resets.length;
  if (id === 1) return input.length === 0 ? new Out().u32(S.SUCCESS, n) : status(S.PROTOCOL_ERROR);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (input.length !== (id === 3 ? 4 : 12)) return status(S.PROTOCOL_ERROR);
  const domain = dv.getUint32(0, true);
  if (id === 3) {
    if (domain >= n) return status(S.INVALID_PARAMETERS);
    const r = a.resets[domain] as ScmiAgentData['resets'][number];
    // No asynchronous reset, no notification; latency unknown.
    return new Out().u32(S.SUCCESS, 0, 0x7fffffff).name(r.name);
  }
  if (domain >= n) return status(S.NOT_FOUND);
  const r = a.resets[domain] as ScmiAgentData['resets'][number];
  if (!canReach(r.gate)) return status(S.DENIED);
  const flags = dv.getUint32(4, true);
  if (flags & 1) {
    if (r.noCycle === true) return status(S.NOT_SUPPORTED);
    // Only the architectural reset with context loss (state 0).
    if (dv.getUint32(8, true) !== 0) return status(S.NOT_SUPPORTED);
    st.resets[domain] = false;
    return status(S.SUCCESS);
  }
  st.resets[domain] = (flags & 2) !== 0;
  return status(S.SUCCESS);
}

const CONFIG_ON = 7;

function voltage(a: ScmiAgentData, st: ScmiAgentState, id: number, input: Uint8Array, outSize: number): Out {
  const n = a.voltages.length;
  if (id === 1) return new Out().u32(S.SUCCESS, n);
  const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const want = [0, 0, 0, 4, 8, 8, 4, 12, 4][id] as number;
  if (input.length !== want) return status(S.PROTOCOL_ERROR);
  const domain = dv.getUint32(0, true);
  if (domain >= n) return status(S.INVALID_PARAMETERS);
  const v = a.voltages[domain] as ScmiAgentData['voltages'][number];
  const s = st.voltages[domain] as ScmiAgentState['voltages'][number];
  switch (id) {
    case 3:
      return new Out().u32(S.SUCCESS, 0).name(v.name);
    case 4: {
      const start = dv.getUint32(4, true);
      const room = Math.floor((outSize - 8) / 4);
      const levels = start < v.levels.length ? v.levels.slice(start, start + room) : [];
      // The remainder counts from the asked index, as the monitor computes it (32-bit).
      const remaining = (v.levels.length - start) >>> 0;
      const flags = (levels.length & 0xfff) | ((remaining << 16) & 0xffff0000);
      return new Out().u32(S.SUCCESS, flags, ...levels);
    }
    case 5: {
      const config = dv.getUint32(4, true) & 0xf;
      if (config !== CONFIG_ON && config !== 0) return status(S.INVALID_PARAMETERS);
      s.on = config === CONFIG_ON;
      return status(S.SUCCESS);
    }
    case 6:
      return new Out().u32(S.SUCCESS, s.on ? CONFIG_ON : 0);
    case 7: {
      const level = dv.getInt32(8, true);
      // The regulator takes only its own levels.
      if (!v.levels.includes(level)) return status(S.GENERIC_ERROR);
      s.level = level;
      return status(S.SUCCESS);
    }
    default:
      return new Out().u32(S.SUCCESS, s.level);
  }
}

/** A channel holds at least its header and a status word (E_COMMS otherwise). */
function channelSize(shm: Uint8Array): void {
  if (shm.length < SMT_HEADER + 4)
    throw new RseError('E_COMMS', `an SCMI channel of ${shm.length} bytes: the header alone is ${SMT_HEADER}`, { field: 'shm', offset: 0 });
}

/**
 * The monitor taking the message an agent left in its channel (`shm`, changed in place): the
 * reply replaces the payload, `length` is updated, and the channel is marked free (with the
 * error bit when the channel itself was unusable).
 */
export function scmiSmtEntry(m: MonitorData, agentIndex: number, st: ScmiAgentState, canReach: GateCheck, shm: Uint8Array): ScmiTrace {
  channelSize(shm);
  const dv = new DataView(shm.buffer, shm.byteOffset, shm.byteLength);
  const fail = (why: string): ScmiTrace => {
    dv.setUint32(4, dv.getUint32(4, true) | STATUS_ERROR | STATUS_FREE, true);
    return { protocol: -1, message: -1, status: undefined, channelError: why };
  };
  const chan = dv.getUint32(4, true);
  const inSize = (dv.getUint32(20, true) - 4) >>> 0;
  if (inSize > m.scmi.payloadMax) return fail(`payload of ${inSize} bytes is over ${m.scmi.payloadMax}`);
  if (chan & (STATUS_ERROR | STATUS_FREE))
    return fail(`channel status 0x${(chan & 3).toString(16)}: the agent did not post a message (free or error bit set)`);
  const header = dv.getUint32(24, true);
  const protocol = (header >>> 10) & 0xff;
  const message = header & 0xff;
  const input = shm.slice(SMT_HEADER, SMT_HEADER + inSize);
  const outSize = shm.length - SMT_HEADER;
  const out = processMessage(m, agentIndex, st, canReach, protocol, message, input, outSize).encode();
  const reply = out.length <= outSize ? out : status(S.PROTOCOL_ERROR).encode();
  shm.set(reply, SMT_HEADER);
  dv.setUint32(20, reply.length + 4, true);
  dv.setUint32(4, chan | STATUS_FREE, true);
  return { protocol, message, status: new DataView(reply.buffer).getInt32(0, true) };
}

/** The SMT channel an agent writes: header, message header, payload (zero-padded to the channel size). */
export function smtMessage(m: MonitorData, protocol: number, message: number, payload: Uint8Array, token = 0): Uint8Array {
  const shm = new Uint8Array(m.scmi.shmSize);
  const dv = new DataView(shm.buffer);
  dv.setUint32(20, 4 + payload.length, true);
  dv.setUint32(24, (message & 0xff) | ((protocol & 0xff) << 10) | ((token & 0x3ff) << 18), true);
  shm.set(payload.subarray(0, shm.length - SMT_HEADER), SMT_HEADER);
  return shm;
}

/** The reply an agent reads back from its channel: status, the payload after it, and the channel flags. */
export function smtReply(shm: Uint8Array): { status: number; payload: Uint8Array; free: boolean; error: boolean } {
  channelSize(shm);
  const dv = new DataView(shm.buffer, shm.byteOffset, shm.byteLength);
  const chan = dv.getUint32(4, true);
  const len = Math.min(Math.max(dv.getUint32(20, true) - 4, 0), shm.length - SMT_HEADER);
  const body = shm.slice(SMT_HEADER, SMT_HEADER + len);
  return {
    status: len >= 4 ? new DataView(body.buffer).getInt32(0, true) : S.COMMS_ERROR,
    payload: body.slice(4),
    free: (chan & STATUS_FREE) !== 0,
    error: (chan & STATUS_ERROR) !== 0,
  };
}
