// An independent verifier for iomt-agent messages: another language, another CBOR
// library (cbor-x), Node's own Ed25519. Written from RFC 9052 and docs/summary.cddl only.
//
//   node verify_cose.mjs TRUST_DIR TOPIC FILE...
//
// Prints one JSON line per file: {"file", "ok": true, "kid", "payload": {...}} with the
// flows rebuilt to absolute values (schema 3's columns, or schema 1-2's rows), or
// {"file", "ok": false, "error"}. Integers above 2^53 are printed as text.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { Decoder, Encoder, Tag } from 'cbor-x';

const decoder = new Decoder({ useRecords: false, mapsAsObjects: false });
const encoder = new Encoder({ useRecords: false, mapsAsObjects: false, tagUint8Array: false });

function loadTrust(dir) {
  const keys = new Map();
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.pub'))) {
    const key = createPublicKey(readFileSync(join(dir, name)));
    const raw = Buffer.from(key.export({ format: 'jwk' }).x, 'base64url');
    const kid = createHash('sha256').update(raw).digest().subarray(0, 8).toString('hex');
    keys.set(kid, key);
  }
  return keys;
}

function plain(value) {
  // JSON-friendly: byte strings as hex, Maps as objects, BigInt as text.
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]));
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function exact(big) {
  // A BigInt as a Number when that is exact, else as text (JSON has no 64-bit integers).
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big.toString();
}

function rebuildFlowsV2(payload) {
  // Schema 1 and 2: key 19 holds one array per flow (docs/summary-v2.cddl).
  const addrs = payload.get(17), shapes = payload.get(18);
  const macs = payload.get(20) || [], pairs = payload.get(21) || [], names = payload.get(22) || [];
  let ts = BigInt(payload.get(16)), serial = 0n;
  return payload.get(19).map((row) => {
    serial += BigInt(row[0]);
    ts += BigInt(row[1]);
    const shape = shapes[row[3]];
    const pair = row.length > 14 && row[14] !== null ? pairs[row[14]] : [null, null];
    return {
      serial: exact(serial), ts_us: exact(ts), duration_us: row[2], proto: shape[0],
      conn_state: shape[1], history: shape[2], orig_tcp_flags: shape[3], resp_tcp_flags: shape[4],
      end_reason: shape[5], service: shape[6], vlan: shape[7], inner_vlan: shape[8],
      orig_addr: plain(addrs[row[4]]), orig_port: row[5],
      resp_addr: plain(addrs[row[6]]), resp_port: row[7],
      orig_pkts: row[8], orig_ip_bytes: row[9], orig_bytes: row[10],
      resp_pkts: row[11], resp_ip_bytes: row[12], resp_bytes: row[13],
      orig_l2_addr: pair[0] === null ? null : plain(macs[pair[0]]),
      resp_l2_addr: pair[1] === null ? null : plain(macs[pair[1]]),
      server_name: row.length > 15 ? names[row[15]] : null,
    };
  });
}

// Schema 3 (docs/summary.cddl, docs/WIRE.md "Flows"): columns of unsigned LEB128 varints.
function varints(bytes) {
  const out = [];
  let value = 0n, shift = 0n;
  for (const byte of bytes || []) {
    value |= BigInt(byte & 0x7f) << shift;
    if (byte & 0x80) {
      shift += 7n;
    } else {
      if (shift && !byte) throw new Error('a varint not in its shortest form');
      out.push(value);
      value = 0n;
      shift = 0n;
    }
  }
  if (shift) throw new Error('varints end inside a value');
  return out;
}

const CONN_STATES = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'];
const END_REASONS = ['idle', 'active', 'end', 'forced', 'resources'];

function rebuildFlowsV3(payload) {
  const n = Number(payload.get(21));
  const addrs = [];
  let v4 = 0n;
  for (const delta of varints(payload.get(17))) {
    v4 += delta;
    addrs.push(v4.toString(16).padStart(8, '0'));
  }
  for (const a of payload.get(18) || []) addrs.push(plain(a));
  const shapes = payload.get(19);
  const rv = varints(payload.get(20)).map(Number);
  const responders = [];
  for (let i = 0; i < rv.length; i += 2) responders.push([addrs[rv[i]], rv[i + 1]]);
  const columns = payload.get(22).map(varints);
  if (columns.length !== 13 || columns.some((c) => c.length !== n)) throw new Error('bad columns');
  const macTable = payload.get(23) ? Buffer.from(payload.get(23)) : Buffer.alloc(0);
  const mac = (i) => (i === 0 ? null : macTable.subarray((i - 1) * 6, i * 6).toString('hex'));
  const defaults = varints(payload.get(24)).map(Number);
  const codes = payload.has(25) ? varints(payload.get(25)).map(Number) : new Array(n).fill(0);
  const pv = varints(payload.get(26)).map(Number);
  const nameColumn = payload.has(27) ? varints(payload.get(27)).map(Number) : new Array(n).fill(0);
  const names = payload.get(28) || [];
  const addrIndex = new Map(addrs.map((a, i) => [a, i]));
  let ts = BigInt(payload.get(16)), serial = 0n;
  const flows = [];
  for (let i = 0; i < n; i++) {
    const z = columns[0][i];
    serial += z & 1n ? -((z + 1n) >> 1n) : z >> 1n;
    ts += columns[1][i];
    const shape = shapes[Number(columns[3][i])];
    const orig = Number(columns[4][i]);
    const [respAddr, respPort] = responders[Number(columns[6][i])];
    const code = codes[i];
    let origMac, respMac;
    if (code < 4) {
      origMac = code & 1 ? defaults[orig] : 0;
      respMac = code & 2 ? defaults[addrIndex.get(respAddr)] : 0;
    } else {
      [origMac, respMac] = [pv[2 * (code - 4)], pv[2 * (code - 4) + 1]];
    }
    flows.push({
      serial: exact(serial), ts_us: exact(ts), duration_us: exact(columns[2][i]),
      proto: shape[0], conn_state: CONN_STATES[shape[1]], history: shape[2],
      orig_tcp_flags: shape[3], resp_tcp_flags: shape[4], end_reason: END_REASONS[shape[5]],
      service: shape[6], vlan: shape[7], inner_vlan: shape[8],
      orig_addr: addrs[orig], orig_port: Number(columns[5][i]),
      resp_addr: respAddr, resp_port: respPort,
      orig_pkts: exact(columns[7][i]), orig_ip_bytes: exact(columns[8][i]),
      orig_bytes: exact(columns[9][i]), resp_pkts: exact(columns[10][i]),
      resp_ip_bytes: exact(columns[11][i]), resp_bytes: exact(columns[12][i]),
      orig_l2_addr: mac(origMac), resp_l2_addr: mac(respMac),
      server_name: nameColumn[i] ? names[nameColumn[i] - 1] : null,
    });
  }
  return flows;
}

function rebuildFlows(payload) {
  return payload.get(0) >= 3 ? rebuildFlowsV3(payload) : rebuildFlowsV2(payload);
}

function check(trust, topic, bytes) {
  const message = decoder.decode(bytes);
  if (!(message instanceof Tag) || message.tag !== 18) throw new Error('not a tagged COSE_Sign1');
  const [protectedBytes, unprotected, payloadBytes, signature] = message.value;
  const header = decoder.decode(protectedBytes);
  if (header.get(1) !== -8) throw new Error(`alg ${header.get(1)} is not EdDSA`);
  const kid = Buffer.from(header.get(4)).toString('hex');
  const key = trust.get(kid);
  if (!key) throw new Error(`unknown kid ${kid}`);
  const toBeSigned = encoder.encode(['Signature1', protectedBytes, Buffer.from(topic, 'utf8'), payloadBytes]);
  if (!verify(null, toBeSigned, key, signature)) throw new Error('bad signature');
  const payload = decoder.decode(payloadBytes);
  const out = plain(payload);
  if (payload.get(1) === 'flows') out.flows = rebuildFlows(payload);
  return { ok: true, kid, unprotected: plain(unprotected), payload: out };
}

const [trustDir, topic, ...files] = process.argv.slice(2);
const trust = loadTrust(trustDir);
for (const file of files) {
  let result;
  try {
    result = { file, ...check(trust, topic, readFileSync(file)) };
  } catch (error) {
    result = { file, ok: false, error: String(error.message || error) };
  }
  process.stdout.write(JSON.stringify(result, (k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
}
