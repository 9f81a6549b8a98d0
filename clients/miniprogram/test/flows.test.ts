/**
 * The flows a resident goes through in the mini-program, through the typed
 * client and a wx.request shim, against the real API (test/server.ts).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ApiError, FamilyDoctorClient, memoryStorage, type Tokens } from "../src/client";
import { ACCESS_SECONDS, type Api, startApi } from "./server";
import { wxShim } from "./wx-shim";

let api: Api;

before(async () => { api = await startApi(); });
after(() => api?.stop());

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

/** A valid (fictional) 18-digit ID number. */
function idNumber(birth: string, sequence: number, sex: "male" | "female"): string {
  const seq = sequence * 2 + (sex === "male" ? 1 : 0);
  const first17 = "131122" + birth.replace(/-/g, "") + String(seq % 1000).padStart(3, "0");
  const sum = [...first17].reduce((acc, d, i) => acc + Number(d) * WEIGHTS[i], 0);
  return first17 + CHECK[sum % 11];
}

function phone(n: number): string {
  return "139" + String(Date.now() % 100_000_000 + n).padStart(8, "0").slice(-8);
}

function client(storage = memoryStorage()) {
  const shim = wxShim();
  return { shim, c: new FamilyDoctorClient({ baseUrl: api.baseUrl, request: shim.request, storage,
                                             retryDelayMs: 50 }) };
}

async function doctor() {
  const { c } = client();
  await c.loginStaff("demo_doctor", "demo-password");
  return c;
}

let seq = 100;
async function register(staff: FamilyDoctorClient, name: string, birth: string, sex: "male" | "female",
                        mobile: string | null) {
  const id_number = idNumber(birth, seq++, sex);
  const resident = await staff.post("/api/v1/residents", {
    body: { name, id_number, phone: mobile, village: "东关村" } as never });
  return { id: resident.id as number, id_number, name, phone: mobile };
}

async function smsLogin(mobile: string) {
  const { c, shim } = client();
  const since = api.output.length;
  const sent = await c.requestLoginCode(mobile);
  assert.ok(sent.message);
  const line = await api.sms(mobile, since);
  const code = /验证码为(\d{6})/.exec(line)![1];
  const answer = await c.loginWithCode(mobile, code);
  assert.equal(answer.resident?.role, "resident");
  return { c, shim };
}

async function slotSoon(staff: FamilyDoctorClient, minutesAhead = 90) {
  const start = new Date(Date.now() + minutesAhead * 60_000);
  const end = new Date(start.getTime() + 120 * 60_000);
  const slot = await staff.post("/api/v1/slots", {
    body: { kind: "clinic", starts_at: start.toISOString(), ends_at: end.toISOString(), capacity: 5 } as never });
  return (slot as unknown as { id: number }).id;
}

test("SMS login, quote and apply for signing, read follow-ups", async () => {
  const staff = await doctor();
  const me = await register(staff, "周晓梅", "1980-04-12", "female", phone(1));
  const { c } = await smsLogin(me.phone!);
  const profile = await c.get("/api/v1/me");
  assert.equal(profile.profile?.id, me.id);
  const quote = await c.post("/api/v1/quotes", { body: { package_codes: ["basic"] } });
  assert.ok(quote.totals, "a quote has totals");
  const teams = await c.get("/api/v1/teams");
  const team = (teams as unknown as { items: { id: number; name: string }[] }).items[0];
  const contract = await c.post("/api/v1/contracts", { body: { team_id: team.id, package_codes: ["basic"] } as never });
  assert.equal(contract.status, "pending");
  const mine = await c.get("/api/v1/contracts", { query: { resident_id: me.id } });
  assert.deepEqual(mine.items?.map((x) => x.id), [contract.id]);
  const followups = await c.get("/api/v1/residents/{resident_id}/followups", { path: { resident_id: me.id } });
  assert.equal(followups.total, 0);
  // someone else's follow-ups: the typed ApiError with the API's code
  await assert.rejects(c.get("/api/v1/residents/{resident_id}/followups", { path: { resident_id: 1 } }),
                       (e: unknown) => e instanceof ApiError && e.status === 404 && e.code === "RESIDENT_NOT_FOUND");
});

test("book and cancel; a lost answer retried with its Idempotency-Key books once", async () => {
  const staff = await doctor();
  const me = await register(staff, "孙国华", "1962-09-30", "male", phone(2));
  const { c, shim } = await smsLogin(me.phone!);
  const slotId = await slotSoon(staff, 300);
  shim.dropNextAnswers = 1;  // the server books, the phone never hears back, the client retries
  const booked = await c.post("/api/v1/appointments", { body: { slot_id: slotId, reason: "复查血压" } });
  assert.equal(booked.status, "booked");
  const posts = shim.calls.filter((x) => x.method === "POST" && x.url.endsWith("/api/v1/appointments"));
  assert.equal(posts.length, 2);
  assert.ok(posts[0].header["Idempotency-Key"]);
  assert.equal(posts[0].header["Idempotency-Key"], posts[1].header["Idempotency-Key"]);
  const listed = await c.get("/api/v1/appointments", { query: { when: "upcoming" } });
  assert.deepEqual(listed.items?.map((a) => a.id), [booked.id]);  // one record
  const cancelled = await c.post("/api/v1/appointments/{appointment_id}/cancel", {
    path: { appointment_id: booked.id! }, body: { reason: "临时有事" } });
  assert.equal(cancelled.status, "cancelled");
  // a second booking of the same session is a new POST (a new key): the API answers its own 201
  const again = await c.post("/api/v1/appointments", { body: { slot_id: slotId } });
  assert.notEqual(again.id, booked.id);
});

test("link a parent, book for them, the parent's phone gets the reminder; unlinking ends it", async () => {
  const staff = await doctor();
  const daughter = await register(staff, "吴丽华", "1976-02-14", "female", phone(3));
  const father = await register(staff, "吴振山", "1946-11-02", "male", phone(4));
  const stranger = await register(staff, "郑大勇", "1970-07-07", "male", phone(5));
  const { c } = await smsLogin(daughter.phone!);
  const since = api.output.length;
  const link = await c.post("/api/v1/me/family", {
    body: { id_number: father.id_number, name: father.name, relation: "parent" } });
  assert.equal(link.status, "pending");
  assert.equal(link.confirm_by, "sms");
  const code = /验证码 (\d{6})/.exec(await api.sms(father.phone!, since))![1];
  const active = await c.post("/api/v1/me/family/{link_id}/confirm", { path: { link_id: link.id! }, body: { code } });
  assert.equal(active.status, "active");
  // acting for him: his /me, a booking in his name
  const his = await c.get("/api/v1/me", { query: { resident_id: father.id } });
  assert.equal(his.profile?.id, father.id);
  const slotId = await slotSoon(staff, 90);
  const booked = await c.post("/api/v1/appointments", { body: { slot_id: slotId, resident_id: father.id } });
  assert.equal(booked.resident?.id, father.id);
  const before = api.output.length;
  const dispatched = api.flask("sms", "dispatch", "--once");
  assert.match(dispatched, /sent [1-9]/);
  assert.match(dispatched + api.output.slice(before).join("\n"), new RegExp(`\\[SMS\\][^\\n]*to=\\+86${father.phone}`));
  // a stranger's id is 404
  await assert.rejects(c.get("/api/v1/me", { query: { resident_id: stranger.id } }),
                       (e: unknown) => e instanceof ApiError && e.status === 404);
  // unlinking ends access at once
  await c.delete("/api/v1/me/family/{link_id}", { path: { link_id: link.id! } });
  await assert.rejects(c.get("/api/v1/me", { query: { resident_id: father.id } }),
                       (e: unknown) => e instanceof ApiError && e.status === 404);
});

test("an expired access token is refreshed once, with rotation, for every request waiting", async () => {
  const staff = await doctor();
  const me = await register(staff, "钱玉兰", "1955-05-05", "female", phone(6));
  const storage = memoryStorage();
  const { c: signedIn } = await smsLogin(me.phone!);
  storage.set(signedIn.storage.get());
  const { c, shim } = client(storage);
  const first: Tokens = storage.get()!;
  await new Promise((r) => setTimeout(r, (ACCESS_SECONDS + 1) * 1000));
  const answers = await Promise.all([c.get("/api/v1/me"), c.get("/api/v1/me"), c.get("/api/v1/appointments")]);
  assert.equal(answers[0].profile?.id, me.id);
  assert.equal(c.refreshCount, 1);
  assert.equal(shim.calls.filter((x) => x.url.endsWith("/api/v1/auth/refresh")).length, 1);
  const second = storage.get()!;
  assert.notEqual(second.refresh_token, first.refresh_token);  // rotated
  assert.notEqual(second.access_token, first.access_token);
  // the old refresh token is dead: presenting it again ends the whole sign-in
  const thief = new FamilyDoctorClient({ baseUrl: api.baseUrl, request: wxShim().request, storage: memoryStorage(first) });
  assert.equal(await thief.refresh(), false);
  await assert.rejects(c.get("/api/v1/me"), (e: unknown) => e instanceof ApiError && e.status === 401);
  assert.equal(storage.get(), null);  // signed out
});

test("validation errors arrive as ApiError with the field errors", async () => {
  const { c } = client();
  await assert.rejects(c.post("/api/v1/auth/otp", { body: { phone: "12" } }), (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.status, 422);
    assert.ok(e.message);
    assert.ok(e.errors?.phone);
    return true;
  });
});
