/**
 * The sans-I/O dflockd protocol core: command and status tables, line framing, request
 * parsing and response formatting (server side), request encoding and reply parsing (client
 * side), Go-compatible text and number rules, sharding and fencing helpers.
 *
 * Pure code: no I/O, no timers, no runtime globals.
 *
 * @module
 */

export { COMMAND, isCommand, isStatus, STATUS } from "./commands.ts";
export type { Command, Status } from "./commands.ts";
export { atoi, fields, leaseSecondsToMs, MAX_SECONDS, secondsToMs, trimSpace } from "./go_text.ts";
export {
  CLIENT_MAX_LINE_BYTES,
  LINE_TOO_LONG,
  LineDecoder,
  SERVER_MAX_LINE_BYTES,
} from "./line_decoder.ts";
export {
  bytesToByteString,
  byteStringToBytes,
  decodeUtf8,
  encodeUtf8,
  utf8Bytes,
  utf8Length,
} from "./utf8.ts";
export { isValidKey, parseRequest } from "./request.ts";
export type { InvalidReason, InvalidRequest, Request } from "./request.ts";
export { acquiredReply, grantedReply, renewedReply, statsReply } from "./response.ts";
export { formatStats, parseStats } from "./stats.ts";
export type { IdleKeyInfo, LockInfo, SemaphoreInfo, ServerStats } from "./stats.ts";
export { goJsonFloat, goJsonInt, goJsonString } from "./stats_format.ts";
export { encodeRequest, MAX_KEY_BYTES, validateKey, validateSeconds } from "./encode.ts";
export type { ValidateSecondsOptions } from "./encode.ts";
export { COMMAND_SHAPE, parseReply } from "./reply.ts";
export type {
  AcquiredReply,
  ErrorReply,
  ErrorStatus,
  FailureReply,
  GrantedReply,
  MalformedReply,
  NotLeaderReply,
  OkReply,
  QueuedReply,
  RenewedReply,
  Reply,
  ReplyByShape,
  ReplyShape,
  StatsReply,
  TimeoutReply,
} from "./reply.ts";
export { crc32, stableHashShard } from "./crc32.ts";
export { fenceFromToken } from "./fence.ts";
