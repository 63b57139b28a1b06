// An independent verifier for iomt-agent messages: another language, another CBOR
// library (cbor-x), Node's own Ed25519. Written from RFC 9052 and docs/summary.cddl only.
//
//   node verify_cose.mjs TRUST_DIR TOPIC FILE...
//
// Prints one JSON line per file: {"file", "ok": true, "kid", "payload": {...}} with the
// flows rebuilt to absolute values, or {"file", "ok": false, "error"}.
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

function rebuildFlows(payload) {
  const addrs = payload.get(17), shapes = payload.get(18);
  let ts = Number(payload.get(16)), serial = 0;
  return payload.get(19).map((row) => {
    serial += Number(row[0]);
    ts += Number(row[1]);
    const shape = shapes[row[3]];
    return {
      serial, ts_us: ts, duration_us: row[2], proto: shape[0], conn_state: shape[1],
      history: shape[2], orig_tcp_flags: shape[3], resp_tcp_flags: shape[4],
      end_reason: shape[5], service: shape[6], vlan: shape[7], inner_vlan: shape[8],
      orig_addr: plain(addrs[row[4]]), orig_port: row[5],
      resp_addr: plain(addrs[row[6]]), resp_port: row[7],
      orig_pkts: row[8], orig_ip_bytes: row[9], orig_bytes: row[10],
      resp_pkts: row[11], resp_ip_bytes: row[12], resp_bytes: row[13],
    };
  });
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
