/**
 * Drives a headless Chromium over the DevTools protocol for browser tests, with only
 * `node:child_process`: the browser is started with `--remote-debugging-pipe` and the protocol runs
 * over its file descriptors 3 (commands in) and 4 (replies and events out), as NUL-terminated
 * JSON. That works the same on Deno, Bun and Node, with no WebSocket and no npm package.
 *
 * Every wait has a deadline; {@linkcode Browser.close} ends the browser (politely, then with
 * SIGKILL) and removes its temporary profile.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import process from "node:process";
import type { Readable, Writable } from "node:stream";

/** How to get a browser on Debian, for skip messages. */
export const CHROMIUM_INSTALL_HINT =
  "chromium is not installed: `apt-get install -y --no-install-recommends chromium` " +
  "(.ci/run installs it), or set DFLOCK_CHROMIUM to a Chromium or Chrome executable";

/**
 * Finds a Chromium executable: `$DFLOCK_CHROMIUM`, else `chromium`, `chromium-browser`,
 * `google-chrome-stable` or `google-chrome` on the `PATH`.
 *
 * @returns Its path, or `undefined` when there is none.
 */
export function findChromium(): string | undefined {
  const explicit = process.env.DFLOCK_CHROMIUM;
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  const dirs = (process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  for (const name of ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"]) {
    for (const dir of dirs) {
      const path = join(dir, name);
      if (isExecutable(path)) return path;
    }
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A protocol error reply, or a page-side exception. */
export class CdpError extends Error {
  override name = "CdpError";
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface EventWaiter {
  method: string;
  sessionId: string | undefined;
  resolve: (params: Record<string, unknown>) => void;
}

/** A running headless browser with one DevTools connection (the pipe). */
export class Browser {
  readonly #child: ChildProcess;
  readonly #out: Writable;
  readonly #profile: string;
  readonly #pending = new Map<number, Pending>();
  readonly #waiters = new Set<EventWaiter>();
  #nextId = 1;
  #buf: Buffer = Buffer.alloc(0);
  #exited = false;
  #stderr = "";
  readonly #exit: Promise<void>;

  private constructor(child: ChildProcess, profile: string) {
    this.#child = child;
    this.#profile = profile;
    this.#out = child.stdio[3] as Writable;
    const input = child.stdio[4] as Readable;
    input.on("data", (chunk: Buffer) => this.#onData(chunk));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      // Keeps the tail for error messages only.
      this.#stderr = (this.#stderr + text).slice(-4000);
    });
    // The pipe may fail once the browser is gone; the exit handler reports that.
    this.#out.on("error", () => {});
    this.#exit = new Promise((resolve) => {
      child.once("exit", () => {
        this.#exited = true;
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(new CdpError(`the browser exited; its stderr ends:\n${this.#stderr}`));
        }
        this.#pending.clear();
        resolve();
      });
    });
  }

  /**
   * Starts `chromium` headless with a temporary profile and waits for the protocol to answer.
   *
   * @param executable The browser (see {@linkcode findChromium}).
   * @returns The browser, ready for {@linkcode Browser.newPage}.
   */
  static async launch(executable: string): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), "dflock-chromium-"));
    const child = spawn(executable, [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--metrics-recording-only",
      "--mute-audio",
      "--hide-scrollbars",
      `--user-data-dir=${profile}`,
      "--remote-debugging-pipe",
      "about:blank",
    ], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] });
    const browser = new Browser(child, profile);
    try {
      child.on("error", () => {}); // a late one (e.g. a failed kill) is covered by `close()`
      // A started child has its pid at once; a failed start has none and reports an `error`
      // event. (Bun does not always emit `spawn`, so that event is not waited for.)
      if (child.pid === undefined) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new CdpError(`${executable} did not start within 20 s`)),
            20_000,
          );
          child.once("error", (error) => {
            clearTimeout(timer);
            reject(error);
          });
          child.once("spawn", () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await browser.send("Browser.getVersion", {}, undefined, 20_000);
    } catch (error) {
      await browser.close();
      throw error;
    }
    return browser;
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    let end: number;
    while ((end = this.#buf.indexOf(0)) >= 0) {
      const text = this.#buf.subarray(0, end).toString("utf8");
      this.#buf = this.#buf.subarray(end + 1);
      this.#onMessage(JSON.parse(text) as Record<string, unknown>);
    }
  }

  #onMessage(message: Record<string, unknown>): void {
    if (typeof message.id === "number") {
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      const error = message.error as { message?: string; data?: string } | undefined;
      if (error !== undefined) {
        pending.reject(new CdpError(`${error.message ?? "error"} ${error.data ?? ""}`.trim()));
      } else {
        pending.resolve((message.result ?? {}) as Record<string, unknown>);
      }
      return;
    }
    const method = message.method as string;
    const sessionId = message.sessionId as string | undefined;
    for (const waiter of this.#waiters) {
      if (waiter.method === method && waiter.sessionId === sessionId) {
        this.#waiters.delete(waiter);
        waiter.resolve((message.params ?? {}) as Record<string, unknown>);
      }
    }
  }

  /**
   * Sends one protocol command and waits for its reply.
   *
   * @param method E.g. `Page.navigate`.
   * @param params Its parameters.
   * @param sessionId The page session, for page commands.
   * @param ms Deadline for the reply.
   * @returns The reply's `result`.
   * @throws {CdpError} On an error reply, a missed deadline or the browser's exit.
   */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    ms = 10_000,
  ): Promise<Record<string, unknown>> {
    if (this.#exited) return Promise.reject(new CdpError(`${method}: the browser has exited`));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new CdpError(`${method}: no reply within ${ms} ms`));
      }, ms);
      this.#pending.set(id, { resolve, reject, timer });
      const message: Record<string, unknown> = { id, method, params };
      if (sessionId !== undefined) message.sessionId = sessionId;
      this.#out.write(JSON.stringify(message) + "\0");
    });
  }

  /**
   * Registers for the next event `method` (of `sessionId`) before the action that causes it.
   *
   * @param method E.g. `Page.loadEventFired`.
   * @param sessionId The page session, or `undefined` for browser events.
   * @param ms Deadline.
   * @returns Resolves with the event's params; rejects when the deadline passes.
   */
  nextEvent(
    method: string,
    sessionId: string | undefined,
    ms: number,
  ): Promise<Record<string, unknown>> {
    let waiter: EventWaiter | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const event = new Promise<Record<string, unknown>>((resolve) => {
      waiter = { method, sessionId, resolve };
      this.#waiters.add(waiter);
    });
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        if (waiter !== undefined) this.#waiters.delete(waiter);
        reject(new CdpError(`no ${method} event within ${ms} ms`));
      }, ms);
    });
    return Promise.race([event, deadline]).finally(() => clearTimeout(timer));
  }

  /**
   * Opens a new tab at `about:blank` with the given viewport.
   *
   * @param width CSS pixels.
   * @param height CSS pixels.
   * @returns The page.
   */
  async newPage(width = 1280, height = 800): Promise<Page> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true });
    const page = new Page(this, sessionId as string);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Emulation.setDeviceMetricsOverride", {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  /**
   * Ends the browser: `Browser.close`, then SIGKILL if it has not exited within 5 s; removes the
   * temporary profile. Safe to call twice.
   */
  async close(): Promise<void> {
    if (!this.#exited) {
      // The reply may never come: the browser closes the pipe as it exits.
      this.send("Browser.close", {}, undefined, 2000).catch(() => {});
      let timer: ReturnType<typeof setTimeout> | undefined;
      const exitedInTime = await Promise.race([
        this.#exit.then(() => true),
        new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), 5000)),
      ]);
      clearTimeout(timer);
      if (!exitedInTime) {
        this.#child.kill("SIGKILL");
        await Promise.race([
          this.#exit,
          new Promise<void>((resolve) => timer = setTimeout(resolve, 5000)),
        ]);
        clearTimeout(timer);
      }
    }
    (this.#child.stdio[3] as Writable | null)?.destroy();
    (this.#child.stdio[4] as Readable | null)?.destroy();
    this.#child.stderr?.destroy();
    // Chromium's helper processes may still be writing to the profile for a moment.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        rmSync(this.#profile, { recursive: true, force: true });
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Closes the browser (for `await using`). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** One tab, attached with a flat session. */
export class Page {
  readonly #browser: Browser;
  /** The protocol session of this tab. */
  readonly sessionId: string;

  /**
   * Wraps an attached session (see {@linkcode Browser.newPage}).
   *
   * @param browser The browser.
   * @param sessionId The session.
   */
  constructor(browser: Browser, sessionId: string) {
    this.#browser = browser;
    this.sessionId = sessionId;
  }

  /**
   * Sends a command to this tab.
   *
   * @param method Command.
   * @param params Parameters.
   * @param ms Deadline.
   * @returns The reply's result.
   */
  send(
    method: string,
    params: Record<string, unknown> = {},
    ms = 10_000,
  ): Promise<Record<string, unknown>> {
    return this.#browser.send(method, params, this.sessionId, ms);
  }

  /**
   * Navigates and waits for the load event.
   *
   * @param url Where to.
   * @param ms Deadline for the load.
   */
  async goto(url: string, ms = 10_000): Promise<void> {
    const loaded = this.#browser.nextEvent("Page.loadEventFired", this.sessionId, ms);
    const result = await this.send("Page.navigate", { url }, ms);
    if (typeof result.errorText === "string") {
      loaded.catch(() => {});
      throw new CdpError(`navigating to ${url}: ${result.errorText}`);
    }
    await loaded;
  }

  /**
   * Evaluates an expression in the page (promises awaited) and returns its value as JSON.
   *
   * @param expression JavaScript source.
   * @returns The value.
   * @throws {CdpError} When the page throws.
   */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const result = await this.send("Runtime.evaluate", {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    const exception = result.exceptionDetails as
      | { text?: string; exception?: { description?: string } }
      | undefined;
    if (exception !== undefined) {
      throw new CdpError(
        `page threw: ${exception.exception?.description ?? exception.text ?? "?"}\n${expression}`,
      );
    }
    return (result.result as { value?: T }).value as T;
  }

  /**
   * Evaluates `expression` every 50 ms until it is truthy.
   *
   * @param expression JavaScript source.
   * @param ms Deadline.
   * @param what What is awaited, for the error.
   * @returns The first truthy value.
   * @throws {Error} When the deadline passes, with the last value and the page's state.
   */
  async waitFor<T = unknown>(expression: string, ms: number, what = expression): Promise<T> {
    const deadline = Date.now() + ms;
    let last: T | undefined;
    for (;;) {
      last = await this.evaluate<T>(expression);
      if (last) return last;
      if (Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const state = await this.evaluate<string>(
      "JSON.stringify({ state: document.body && document.body.dataset.state, " +
        "updated: document.body && document.body.dataset.updated, url: location.href })",
    ).catch((e) => String(e));
    throw new Error(`timed out after ${ms} ms waiting for ${what}; last ${last}; page ${state}`);
  }

  /**
   * Takes a PNG screenshot of the viewport.
   *
   * @returns The PNG bytes.
   */
  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.send("Page.captureScreenshot", { format: "png" }, 20_000);
    return Buffer.from(data as string, "base64");
  }
}
