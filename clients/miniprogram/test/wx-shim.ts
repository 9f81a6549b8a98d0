/**
 * `wx.request` as the mini-program runtime provides it, over Node's http: the
 * options object with success / fail callbacks, JSON bodies sent and parsed,
 * header names as the server sent them. `dropNextAnswers` makes the next N
 * requests reach the server but lose their answer (fail is called), as on a
 * phone that loses signal between sending and receiving.
 */
import * as http from "node:http";

import type { WxRequestOptions } from "../src/client";

export interface Shim {
  request: (options: WxRequestOptions) => void;
  calls: { method: string; url: string; header: Record<string, string> }[];
  dropNextAnswers: number;
}

export function wxShim(): Shim {
  const shim: Shim = {
    calls: [],
    dropNextAnswers: 0,
    request(options: WxRequestOptions) {
      const { url, method, header = {}, data } = options;
      shim.calls.push({ method, url, header: { ...header } });
      const body = data === undefined ? undefined : Buffer.from(typeof data === "string" ? data : JSON.stringify(data));
      const target = new globalThis.URL(url);
      const drop = shim.dropNextAnswers > 0;
      if (drop) shim.dropNextAnswers -= 1;
      const req = http.request({
        hostname: target.hostname, port: target.port, path: target.pathname + target.search, method,
        headers: { ...header, ...(body ? { "Content-Length": String(body.length) } : {}) },
        timeout: options.timeout ?? 15000,
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          if (drop) {
            options.fail?.({ errMsg: "request:fail timeout" });
            return;
          }
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          if (options.dataType === "json" && text) {
            try { parsed = JSON.parse(text); } catch { parsed = text; }
          }
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
          options.success?.({ statusCode: res.statusCode ?? 0, data: parsed, header: headers });
        });
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (err) => options.fail?.({ errMsg: `request:fail ${err.message}` }));
      if (body) req.write(body);
      req.end();
    },
  };
  return shim;
}
