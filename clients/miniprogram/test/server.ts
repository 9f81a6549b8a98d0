/**
 * The real API for the client's tests: a fresh SQLite database in a temporary
 * folder, migrated, with the package catalog and the demo data, served by
 * `flask run` on a free port of 127.0.0.1. SMS go to the console channel, so a
 * test reads a code from the server's output. Access tokens live 4 seconds, so
 * the flows meet expiry and refresh for real.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const REPO = path.resolve(__dirname, "../../../..");
const FLASK = process.env.FDOC_FLASK || path.join(REPO, ".venv", "bin", "flask");
export const ACCESS_SECONDS = 4;

export interface Api {
  baseUrl: string;
  env: NodeJS.ProcessEnv;
  output: string[];
  /** The last SMS to this 11-digit number after `since` lines of output, waiting up to 10 s. */
  sms(phone: string, since?: number): Promise<string>;
  /** Run a `flask --app wsgi ...` command against the same database; its output. */
  flask(...args: string[]): string;
  stop(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

function healthy(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url + "/healthz", (res) => { res.resume(); resolve(res.statusCode === 200); });
    req.on("error", () => resolve(false));
    req.setTimeout(1000, () => { req.destroy(); resolve(false); });
  });
}

export async function startApi(): Promise<Api> {
  if (!fs.existsSync(FLASK)) throw new Error(`no ${FLASK}: run \`make install\` at the repository root first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fdoc-client-"));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env, APP_ENV: "development", DATABASE_URL: `sqlite:///${path.join(dir, "api.db")}`,
    SMS_BACKEND: "console", QUIET_HOURS: "", JWT_ACCESS_SECONDS: String(ACCESS_SECONDS),
    RATELIMIT_STORAGE_URI: "memory://", LOG_LEVEL: "WARNING", PYTHONUNBUFFERED: "1",
  };
  const flask = (...args: string[]) => execFileSync(FLASK, ["--app", "wsgi", ...args],
    { cwd: REPO, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
  flask("db", "upgrade");
  flask("catalog", "load");
  flask("demo", "seed");
  const output: string[] = [];
  const child: ChildProcess = spawn(FLASK, ["--app", "wsgi", "run", "--host", "127.0.0.1", "--port", String(port),
                                            "--no-reload", "--no-debugger"], { cwd: REPO, env });
  let buffer = "";
  const take = (chunk: Buffer) => {
    buffer += chunk.toString("utf8");
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    output.push(...lines);
  };
  child.stdout?.on("data", take);
  child.stderr?.on("data", take);
  const baseUrl = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100 && !(await healthy(baseUrl)); i++) await new Promise((r) => setTimeout(r, 200));
  if (!(await healthy(baseUrl))) {
    child.kill();
    throw new Error("the API did not start:\n" + output.join("\n"));
  }
  return {
    baseUrl, env, output, flask,
    async sms(phone: string, since = 0) {
      for (let i = 0; i < 100; i++) {
        const hit = output.slice(since).reverse().find((l) => l.includes("[SMS]") && l.includes(`to=+86${phone}`));
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no SMS to ${phone}:\n` + output.slice(since).join("\n"));
    },
    stop() {
      child.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
