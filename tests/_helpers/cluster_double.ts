/**
 * Test helper: a stand-in for a dflockd Raft cluster, for the client's failover tests (our own
 * server has no cluster mode, and a real cluster cannot be frozen or drained on cue). Members are
 * TCP listeners on 127.0.0.1 (port 0) over one shared lock table, the replicated state. What each
 * member does follows the wire behaviour recorded from a real cluster (see `docs/leases.md`):
 *
 * - the leader grants (`l key t [lease]` with FIFO waiters, `r`, `n`); a renewal from another
 *   connection moves the lock to that connection; `ping` is `ok` everywhere;
 * - a follower answers `error_not_leader <leader address>`, or a bare `error_not_leader` while
 *   no leader is set;
 * - a draining member answers the next request of each connection with `error_draining`, closes
 *   it and, at that moment, releases what it held (the key goes to the next waiter); it refuses
 *   new connections;
 * - a frozen member reads and never answers (connections still open, as with SIGSTOP);
 * - a killed member is gone (connections reset, new ones refused) and proposes nothing, so its
 *   connections' locks stay in the table until released by token, as after `kill -9`;
 * - when the leader's connection closes otherwise, its locks are released (auto-release).
 *
 * @module
 */

import type * as net from "node:net";
import { type Peer, type PeerRequest, startPeer } from "./peer.ts";

/** What a member is doing. */
export type MemberMode = "serving" | "draining" | "frozen" | "dead";

/** One grant the double handed out. */
export interface DoubleGrant {
  key: string;
  token: string;
  /** The member that granted it. */
  member: number;
  /** When the answer was written (performance.now() ms). */
  at: number;
}

interface Holder {
  token: string;
  sock: net.Socket;
  member: number;
}

interface Waiter {
  sock: net.Socket;
  member: number;
  lease: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** A running cluster double. */
export interface ClusterDouble extends AsyncDisposable {
  /** `127.0.0.1:<port>` of each member, in order. */
  readonly addresses: readonly string[];
  /** Every request each member received, in order. */
  readonly requests: readonly PeerRequest[][];
  /** Grants in the order they were written. */
  readonly grants: readonly DoubleGrant[];
  /** The leader's index, or `null` while there is none. */
  leader: number | null;
  /** Puts a member in a mode (`kill` for `"dead"`). */
  setMode(member: number, mode: Exclude<MemberMode, "dead">): void;
  /** Resets every connection of the member and stops listening. */
  kill(member: number): Promise<void>;
  /** The token holding `key`, if any. */
  holder(key: string): string | undefined;
  /** Waiters queued on `key`. */
  waiters(key: string): number;
  /** Stops every member. */
  close(): Promise<void>;
}

let counter = 0;

function newToken(): string {
  counter++;
  return counter.toString(16).padStart(16, "0") + "0123456789abcdef";
}

/**
 * Starts a cluster double of `size` members; member 0 leads.
 *
 * @param size Number of members.
 * @returns The running double; close it in a `finally` (or with `await using`).
 */
export async function startClusterDouble(size = 3): Promise<ClusterDouble> {
  const modes: MemberMode[] = Array.from({ length: size }, () => "serving");
  const requests: PeerRequest[][] = Array.from({ length: size }, () => []);
  const grants: DoubleGrant[] = [];
  const locks = new Map<string, Holder>();
  const queues = new Map<string, Waiter[]>();
  const peers: Peer[] = [];
  const state = { leader: 0 as number | null };

  const grant = (key: string, sock: net.Socket, member: number, lease: number): string => {
    const token = newToken();
    locks.set(key, { token, sock, member });
    grants.push({ key, token, member, at: performance.now() });
    return `ok ${token} ${lease}\n`;
  };

  const grantNext = (key: string): void => {
    const queue = queues.get(key) ?? [];
    while (queue.length > 0) {
      const w = queue.shift()!;
      if (w.timer !== undefined) clearTimeout(w.timer);
      if (w.sock.destroyed) continue;
      w.sock.write(grant(key, w.sock, w.member, w.lease));
      return;
    }
  };

  /** Auto-release of a closed connection's locks and waiters (the leader proposes it). */
  const released = (sock: net.Socket, member: number): void => {
    if (modes[member] === "dead" || state.leader !== member) return;
    for (const [key, queue] of queues) {
      queues.set(key, queue.filter((w) => w.sock !== sock));
    }
    for (const [key, h] of [...locks]) {
      if (h.sock === sock) {
        locks.delete(key);
        grantNext(key);
      }
    }
  };

  const onRequest = (member: number) => (sock: net.Socket, req: PeerRequest): void => {
    requests[member]!.push(req);
    const mode = modes[member];
    if (mode === "frozen" || mode === "dead") return;
    if (mode === "draining") {
      sock.end("error_draining\n");
      released(sock, member);
      return;
    }
    if (req.command === "ping") {
      sock.write("ok\n");
      return;
    }
    if (state.leader !== member) {
      const leader = state.leader;
      sock.write(
        leader === null ? "error_not_leader\n" : `error_not_leader ${addresses[leader]}\n`,
      );
      return;
    }
    const [first = "", second] = req.arg.split(" ");
    switch (req.command) {
      case "l": {
        const timeoutS = Number(first);
        const lease = Number(second ?? "33");
        if (!locks.has(req.key)) {
          sock.write(grant(req.key, sock, member, lease));
        } else if (timeoutS === 0) {
          sock.write("timeout\n");
        } else {
          const waiter: Waiter = { sock, member, lease, timer: undefined };
          waiter.timer = setTimeout(() => {
            const queue = queues.get(req.key) ?? [];
            const i = queue.indexOf(waiter);
            if (i >= 0) queue.splice(i, 1);
            sock.write("timeout\n");
          }, timeoutS * 1000);
          const queue = queues.get(req.key) ?? [];
          queue.push(waiter);
          queues.set(req.key, queue);
        }
        return;
      }
      case "r": {
        const h = locks.get(req.key);
        if (h === undefined || h.token !== first) {
          sock.write("error\n");
          return;
        }
        locks.delete(req.key);
        sock.write("ok\n");
        grantNext(req.key);
        return;
      }
      case "n": {
        const h = locks.get(req.key);
        if (h === undefined || h.token !== first) {
          sock.write("error\n");
          return;
        }
        h.sock = sock; // a renewal moves the lock to the renewing connection
        h.member = member;
        sock.write(`ok ${second ?? "33"}\n`);
        return;
      }
      default:
        sock.write("error\n");
    }
  };

  const sockets: Set<net.Socket>[] = [];
  for (let i = 0; i < size; i++) {
    const open = new Set<net.Socket>();
    sockets.push(open);
    peers.push(
      await startPeer(onRequest(i), (sock) => {
        if (modes[i] === "draining" || modes[i] === "dead") {
          sock.destroy(); // a draining member refuses new connections
          return;
        }
        open.add(sock);
        sock.on("close", () => {
          open.delete(sock);
          released(sock, i);
        });
      }),
    );
  }
  const addresses = peers.map((p) => p.address);

  const close = async (): Promise<void> => {
    for (const queue of queues.values()) {
      for (const w of queue) if (w.timer !== undefined) clearTimeout(w.timer);
    }
    queues.clear();
    await Promise.all(peers.map((p) => p.close()));
  };
  return {
    addresses,
    requests,
    grants,
    get leader() {
      return state.leader;
    },
    set leader(value: number | null) {
      state.leader = value;
    },
    setMode(member, mode) {
      modes[member] = mode;
    },
    async kill(member) {
      modes[member] = "dead";
      for (const queue of queues.values()) {
        for (const w of queue.filter((w) => w.member === member)) {
          if (w.timer !== undefined) clearTimeout(w.timer);
          queue.splice(queue.indexOf(w), 1);
        }
      }
      for (const sock of sockets[member]!) sock.destroy();
      await peers[member]!.close();
    },
    holder(key) {
      return locks.get(key)?.token;
    },
    waiters(key) {
      return queues.get(key)?.length ?? 0;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
