/** The BSEC model: fuse, shadow and lock rules, the debug register, and a random-operation state machine. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isRseError } from '../../src/lib/errors.ts';
import { BSEC_WORDS, Bsec, CFG0_CLOSED, DENABLE, DENABLE_ALL_OPEN, OTP_WORD, thermometerValue } from '../../src/stm32/bsec.ts';
import { rseErrorOf } from '../helpers.ts';

const code = (f: () => unknown): string | undefined => rseErrorOf(f)?.code;

const NS = { secure: false };

test('fuses: ones only, program and permanent locks refuse, non-secure may neither program nor read secure upper words', () => {
  const b = new Bsec();
  b.program(60, 0x0000_00f0);
  b.program(60, 0x0000_00f1); // adding a one is fine
  assert.equal(b.fuse(60), 0xf1);
  assert.equal(
    code(() => b.program(60, 0x1)),
    'E_OTP_WRITE',
    'blown bits cannot return to 0',
  );
  assert.equal(b.fuse(60), 0xf1, 'nothing burnt on a refusal');
  assert.equal(b.read(60), 0, 'the shadow changes on reload, not on program');
  assert.equal(b.reload(60), 0xf1);
  b.lockUntilReset(61, 'program');
  assert.equal(
    code(() => b.program(61, 1)),
    'E_ACCESS',
  );
  b.reset();
  b.program(61, 1);
  b.lockPermanently(62);
  b.reset();
  assert.equal(
    code(() => b.program(62, 1)),
    'E_ACCESS',
    'a permanent lock survives reset',
  );
  assert.equal(
    code(() => b.program(10, 1, NS)),
    'E_ACCESS',
  );
  assert.equal(
    code(() => b.read(60, NS)),
    'E_ACCESS',
    'upper OEM words are secure only',
  );
  assert.equal(b.read(57, NS), 0, 'the MAC words are marked non-secure');
  assert.equal(b.read(4, NS), 0, 'lower words are readable');
  assert.equal(
    code(() => b.writeShadow(0, 1)),
    'E_ACCESS',
    'shadow word 0 is always write-locked',
  );
  b.lockUntilReset(5, 'shadow-read');
  assert.equal(
    code(() => b.reload(5)),
    'E_ACCESS',
  );
  assert.equal(
    code(() => b.read(96)),
    'E_ARGUMENT',
  );
});

test('debug: an open device comes up with every path open, a closed one with none; DENREG freezes DENABLE', () => {
  const open = new Bsec();
  assert.equal(open.denable, DENABLE_ALL_OPEN);
  assert.deepEqual(open.debug(), { secure: true, nonSecure: true });
  open.program(OTP_WORD.CFG0, CFG0_CLOSED);
  open.reset();
  assert.equal(open.closed, true);
  assert.equal(open.denable, 0);
  // Secure and non-secure debug are independent bits.
  open.writeDenable(DENABLE.DBGEN | DENABLE.DBGSWENABLE);
  assert.deepEqual(open.debug(), { secure: false, nonSecure: true });
  open.lockDenable();
  assert.equal(
    code(() => open.writeDenable(DENABLE_ALL_OPEN)),
    'E_ACCESS',
  );
  assert.equal(
    code(() => open.writeDenable(0, NS)),
    'E_ACCESS',
  );
  open.reset();
  open.writeDenable(DENABLE.SPIDEN);
  assert.deepEqual(open.debug(), { secure: true, nonSecure: false });
});

test('monotonic counter: the thermometer code', () => {
  assert.equal(thermometerValue(0), 0);
  assert.equal(thermometerValue(0b111), 3);
  assert.equal(thermometerValue(0b1011), 2);
  assert.equal(thermometerValue(0xffffffff), 32);
  const b = new Bsec();
  b.program(OTP_WORD.MONOTONIC, 0b11);
  assert.equal(b.monotonicVersion(), 2);
});

test('state machine: fuses never lose a bit, permanent locks never open, refusals change nothing', () => {
  const word = fc.nat(BSEC_WORDS - 1);
  const op = fc.oneof(
    fc.record({ k: fc.constant('program' as const), n: word, v: fc.nat(0xffffffff), secure: fc.boolean() }),
    fc.record({ k: fc.constant('shadow' as const), n: word, v: fc.nat(0xffffffff), secure: fc.boolean() }),
    fc.record({ k: fc.constant('reload' as const), n: word, secure: fc.boolean() }),
    fc.record({
      k: fc.constant('lock' as const),
      n: word,
      kind: fc.constantFrom('shadow-read' as const, 'shadow-write' as const, 'program' as const),
    }),
    fc.record({ k: fc.constant('permanent' as const), n: word }),
    fc.record({ k: fc.constant('reset' as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const b = new Bsec();
      for (const o of ops) {
        const before = b.save();
        let refused = false;
        try {
          if (o.k === 'program') b.program(o.n, o.v, { secure: o.secure });
          else if (o.k === 'shadow') b.writeShadow(o.n, o.v, { secure: o.secure });
          else if (o.k === 'reload') b.reload(o.n, { secure: o.secure });
          else if (o.k === 'lock') b.lockUntilReset(o.n, o.kind);
          else if (o.k === 'permanent') b.lockPermanently(o.n);
          else b.reset();
        } catch (e) {
          assert.ok(isRseError(e), String(e));
          refused = true;
        }
        const after = b.save();
        for (let i = 0; i < BSEC_WORDS; i++) {
          assert.equal(((before.words[i] as number) & ~(after.words[i] as number)) >>> 0, 0, 'a fuse lost a bit');
          if (before.permanentLock[i]) assert.equal(after.permanentLock[i], true);
          if (before.permanentLock[i] || refused) assert.equal(after.words[i], before.words[i]);
        }
      }
    }),
    { numRuns: 300 },
  );
});
