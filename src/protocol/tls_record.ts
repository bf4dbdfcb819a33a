/**
 * Recognising a TLS peer on a plain connection from its first bytes: a TLS record starts with
 * its content type (21 alert, 22 handshake) and the major version 3. No dflockd request or reply
 * starts with a control character, so these bytes mean the other side speaks TLS.
 *
 * @module
 */

const ALERT = 0x15;
const HANDSHAKE = 0x16;

/**
 * Whether a connection's first bytes open a TLS record.
 *
 * @param chunk The first bytes received (one byte is enough to decide when it is all there is).
 * @param handshakeOnly Accept only a handshake record (what a TLS client sends first); otherwise
 *   an alert counts too (what a TLS server answers to plain text).
 * @returns `true` when the peer speaks TLS.
 */
export function opensTlsRecord(chunk: Uint8Array, handshakeOnly: boolean): boolean {
  const type = chunk[0];
  const typeOk = type === HANDSHAKE || (!handshakeOnly && type === ALERT);
  return typeOk && (chunk.length < 2 || chunk[1] === 0x03);
}
