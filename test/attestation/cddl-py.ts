/**
 * Python (Debian's python3-cbor2) for the CoRIM draft's CDDL of environments, measurements and
 * keys, shared by the independent readers of CoRIMs and CoSERV answers: strict checks of every map
 * key and tag the Arm profiles use. Not rsekit's code: written from the drafts, to check it.
 */
export const CDDL_PY = `
import sys, cbor2, datetime
T = cbor2.CBORTag
class Bad(Exception): pass
def need(c, why):
    if not c: raise Bad(why)
def keys(m, allowed, where):
    need(isinstance(m, dict), where + ': a map')
    extra = set(m) - set(allowed)
    need(not extra, '%s: keys %s not in the CDDL' % (where, sorted(extra)))
def tagged(v, tags, where):
    need(isinstance(v, T) and v.tag in tags, '%s: one of tags %s, not %r' % (where, tags, type(v).__name__ if not isinstance(v, T) else v.tag))
    return v.value
def tstr(v, where): need(isinstance(v, str), where + ': tstr')
def bstr(v, where): need(isinstance(v, bytes), where + ': bstr')
def uri(v, where): tstr(tagged(v, [32], where), where)
def entity(e, where):
    keys(e, [0, 1, 2], where); tstr(e[0], where + '.entity-name')
    if 1 in e: uri(e[1], where + '.reg-id')
    need(isinstance(e[2], list) and all(isinstance(r, int) for r in e[2]), where + '.role')
def tag_id(v, where):
    need(isinstance(v, str) or (isinstance(v, bytes) and len(v) == 16), where + ': tstr or uuid')
def class_id(v, where):
    x = tagged(v, [111, 37, 560], where); bstr(x, where)
def instance(v, where):
    x = tagged(v, [550, 37, 560, 554, 555, 556, 557, 558, 559], where)
def environment(e, where):
    keys(e, [0, 1, 2], where)
    if 0 in e:
        c = e[0]; keys(c, [0, 1, 2, 3, 4], where + '.class')
        if 0 in c: class_id(c[0], where + '.class-id')
        for k in (1, 2):
            if k in c: tstr(c[k], where + '.class.%d' % k)
    if 1 in e: instance(e[1], where + '.instance')
def crypto_key(k, where):
    x = tagged(k, [554, 555, 556, 557, 558, 559, 560, 561, 562], where)
    if k.tag in (554, 555): tstr(x, where)
    if k.tag == 560: bstr(x, where)
def mval(m, where):
    keys(m, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14], where)
    if 0 in m:
        keys(m[0], [0, 1], where + '.version'); tstr(m[0][0], where + '.version.version')
        if 1 in m[0]: need(isinstance(m[0][1], int), where + '.version-scheme')
    if 2 in m:
        need(isinstance(m[2], list) and m[2], where + '.digests')
        for d in m[2]:
            need(isinstance(d, list) and len(d) == 2 and isinstance(d[0], (int, str)), where + '.digest')
            bstr(d[1], where + '.digest.value')
    if 4 in m:
        x = tagged(m[4], [560, 563], where + '.raw-value')
        if m[4].tag == 560: bstr(x, where + '.raw-value')
    if 5 in m: bstr(m[5], where + '.raw-value-mask')
    if 11 in m: tstr(m[11], where + '.name')
    if 13 in m:
        need(isinstance(m[13], list), where + '.cryptokeys')
        for k in m[13]: crypto_key(k, where + '.cryptokeys[]')
def measurement(m, where):
    keys(m, [0, 1, 2], where)
    if 0 in m: need(isinstance(m[0], (str, int)) or (isinstance(m[0], T) and m[0].tag in (111, 37)), where + '.mkey')
    mval(m[1], where + '.mval')
`;
